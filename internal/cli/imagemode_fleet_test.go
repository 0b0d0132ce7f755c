package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

var sentRE = regexp.MustCompile(`\(image mode, \d+ paths / ([0-9.]+) (B|KiB|MiB|GiB) sent`)

// sentBytes reads what nd-push's result line says it sent in image mode.
func sentBytes(t testing.TB, out string) int64 {
	t.Helper()
	m := sentRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no image-mode result line in %q", out)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]]
	return int64(f * mult)
}

// TestPushImageModeNoNix deploys to a droplet without Nix: the agent loads
// the full image (no /nix/store from the host), an update sends only the
// changed layers, and malformed image streams are refused while the running
// app stays.
func TestPushImageModeNoNix(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: false})
	ctx := context.Background()
	if out, err := e.d.Exec(ctx, "sh", "-c", `if command -v nix-store || [ -n "$(ls -A /nix/store 2>/dev/null)" ]; then echo has Nix; fi`); err != nil || len(out) != 0 {
		t.Fatalf("the droplet without Nix has a nix-store or a non-empty /nix/store: %q %v", out, err)
	}
	dir := t.TempDir()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"

	code, out1, errOut := e.push(t, e.d.Name, versionedApp(t, dir, "v1", ""))
	if code != 0 {
		log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
		t.Fatalf("deploying v1 exited %d; agent log:\n%s", code, log)
	}
	if !strings.Contains(errOut, "image mode (host has no usable Nix") {
		t.Errorf("nd-push did not say it chose image mode: %q", errOut)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
		t.Fatalf("v1 answered %q, want %q", got, "v1 v1")
	}
	mounts := e.docker(t, "inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Source}}:{{.Destination}} {{end}}", "nd-upd")
	if strings.Contains(mounts, "/nix") {
		t.Errorf("image-mode container mounts %q, want no /nix", mounts)
	}
	if mode := e.docker(t, "inspect", "-f", `{{index .Config.Labels "nd.mode"}}`, "nd-upd"); mode != "image" {
		t.Errorf("nd.mode label %q, want image", mode)
	}
	sent1 := sentBytes(t, out1)
	image1 := e.docker(t, "inspect", "-f", "{{.Image}}", "nd-upd")

	code, out2, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v2", ""))
	if code != 0 {
		t.Fatalf("deploying v2 exited %d", code)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("after the update the app answered %q, want %q (new version, volume kept)", got, "v2 v1")
	}
	sent2 := sentBytes(t, out2)
	t.Logf("sent: first deploy %d bytes, update %d bytes", sent1, sent2)
	if sent2*10 > sent1 {
		t.Errorf("the update sent %d bytes, the first deploy %d: want far less", sent2, sent1)
	}
	// Deploying the same again changes nothing.
	code, out3, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v2", ""))
	if code != 0 || !strings.Contains(out3, "already running") {
		t.Errorf("same deploy again: exit %d, %q; want already running", code, out3)
	}
	before := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-upd")

	// Malformed streams of a v3 image are refused; v2 keeps running.
	var buildOut bytes.Buffer
	if code := Run(ctx, []string{"build", versionedApp(t, dir, "v3", "")}, &buildOut, io.Discard); code != 0 {
		t.Fatalf("building v3 exited %d", code)
	}
	pkg := strings.TrimSpace(buildOut.String())
	built, err := manifest.LoadPackage(pkg)
	if err != nil {
		t.Fatal(err)
	}
	m := built.Manifest
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: hclog.NewNullLogger()}
	img, err := buildLayeredImage(ctx, env, built, "")
	if err != nil {
		t.Fatal(err)
	}
	var sf sshFlags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	sf.register(fs)
	if err := fs.Parse([]string{"-F", e.d.SSHConfig(), "--agent-path", e.bins["nd-agent@droplet"]}); err != nil {
		t.Fatal(err)
	}
	h, err := connect(ctx, env, &sf, e.d.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	missing, err := h.agent.QueryBlobs(ctx, img.DiffIDs())
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 || len(missing) == len(img.Layers) {
		t.Fatalf("host lacks %d of %d layers of v3, want some but not all", len(missing), len(img.Layers))
	}
	var data bytes.Buffer
	if err := img.WriteLayers(&data, missing); err != nil {
		t.Fatal(err)
	}
	manifestJSON, _ := os.ReadFile(filepath.Join(pkg, manifest.FileName))
	req := proto.DeployImage{App: m.Name, Package: pkg, ImageID: img.ID, RepoTag: img.RepoTag,
		Config: img.Config, Layers: layerBlobs(img), Send: missing, Manifest: manifestJSON}
	wrongID := req
	wrongID.ImageID = "sha256:" + strings.Repeat("0", 64)
	otherLayers := req
	otherLayers.Layers = append([]proto.Blob{{Digest: wrongID.ImageID, Size: 1}}, req.Layers...)
	// Leaving out a layer the host does not have is refused before any
	// data is used: nd-push asks again then.
	gone := req
	gone.Send = missing[:len(missing)-1] // the last is never stored before this case
	flipped := bytes.Clone(data.Bytes())
	flipped[len(flipped)-100] ^= 0xff
	for _, tc := range []struct {
		name string
		req  proto.DeployImage
		data []byte
		code string
		want string
	}{
		{"corrupted layer", req, flipped, proto.CodeBadStream, "does not match its digest"},
		{"other image", wrongID, data.Bytes(), proto.CodeBadRequest, "does not match image ID"},
		{"other layers", otherLayers, data.Bytes(), proto.CodeBadRequest, "other layers than announced"},
		{"layer left out", gone, data.Bytes(), proto.CodeLayersGone, "no longer has layer"},
		// Complete blobs before the fault are kept (they are checked and
		// content-addressed), so these come last.
		{"truncated", req, data.Bytes()[:data.Len()/2], proto.CodeBadStream, "malformed image stream"},
		{"trailing data", req, append(bytes.Clone(data.Bytes()), 1, 2, 3), proto.CodeBadStream, "data after the last layer"},
	} {
		_, err := h.agent.DeployImage(ctx, tc.req, agentclient.DeployImageOptions{}, func(w io.Writer) error {
			_, err := w.Write(tc.data)
			return err
		})
		if !agentclient.IsCode(err, tc.code) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: DeployImage = %v, want %s refusal mentioning %q", tc.name, err, tc.code, tc.want)
		}
		if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
			t.Fatalf("after the %s stream the app answered %q, want v2 still running", tc.name, got)
		}
		if tc.name == "corrupted layer" {
			if still, err := h.agent.QueryBlobs(ctx, missing); err != nil || !slices.Contains(still, missing[len(missing)-1]) {
				t.Errorf("after a corrupted layer the host lacks %v, %v; want that layer %s among them", still, err, missing[len(missing)-1])
			}
		}
	}
	if after := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-upd"); after != before {
		t.Errorf("refused streams replaced container %s by %s", before, after)
	}
	if out, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "image", "inspect", img.ID); err == nil {
		t.Errorf("a refused image is loaded: %s", out)
	}
	// The same image sent whole and intact deploys.
	if missing, err = h.agent.QueryBlobs(ctx, img.DiffIDs()); err != nil {
		t.Fatal(err)
	}
	req.Send = missing
	data.Reset()
	if err := img.WriteLayers(&data, missing); err != nil {
		t.Fatal(err)
	}
	dep, err := h.agent.DeployImage(ctx, req, agentclient.DeployImageOptions{}, func(w io.Writer) error {
		_, err := w.Write(data.Bytes())
		return err
	})
	if err != nil || dep.Generation != 3 {
		t.Fatalf("intact v3 = %+v, %v; want generation 3", dep, err)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v3 v1" {
		t.Fatalf("v3 answered %q", got)
	}

	// The agent keeps the images of the generations it keeps (the current
	// one and 3 more by default) and removes the rest: after generations
	// 4 and 5, generation 1's image is gone.
	for _, v := range []string{"v4", "v5"} {
		if code, _, _ := e.push(t, e.d.Name, versionedApp(t, dir, v, "")); code != 0 {
			t.Fatalf("deploying %s exited %d", v, code)
		}
	}
	if imgs := strings.Fields(e.docker(t, "images", "-q", "--no-trunc", "nd/upd")); len(imgs) != 4 {
		t.Errorf("images of the app after 5 generations: %v, want 4 (generations 2 to 5)", imgs)
	}
	if out, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "image", "inspect", image1); err == nil {
		t.Errorf("generation 1's image %s is still there: %s", image1, out)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v5 v1" {
		t.Fatalf("v5 answered %q", got)
	}
	// The agent's blob store keeps exactly the blobs of the kept images.
	want := map[string]bool{}
	for _, id := range strings.Fields(e.docker(t, "images", "-q", "--no-trunc", "nd/upd")) {
		want[strings.TrimPrefix(id, "sha256:")] = true
		for _, l := range strings.Fields(e.docker(t, "image", "inspect", "-f", "{{range .RootFS.Layers}}{{.}} {{end}}", id)) {
			want[strings.TrimPrefix(l, "sha256:")] = true
		}
	}
	blobs, err := os.ReadDir(e.d.Path("/var/lib/nd-agent/images/sha256"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, b := range blobs {
		got[b.Name()] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blobs in the agent's store (-kept images' +stored):\n%s", diff)
	}

	// Rollback needs no Nix either: generation 4's image and manifest are
	// kept.
	var rbOut, rbErr bytes.Buffer
	rb := []string{"rollback", "-F", e.d.SSHConfig(), "--agent-path", e.bins["nd-agent@droplet"], e.d.Name, "upd"}
	if code := Run(ctx, rb, &rbOut, &rbErr); code != 0 {
		t.Fatalf("rollback exited %d: %s%s", code, rbOut.String(), rbErr.String())
	}
	if got := strings.TrimSpace(get(t, url)); got != "v4 v1" {
		t.Fatalf("after the rollback the app answered %q, want v4 v1", got)
	}
	if gen := e.docker(t, "inspect", "-f", `{{index .Config.Labels "nd.generation"}}`, "nd-upd"); gen != "6" {
		t.Errorf("generation after rollback %q, want 6", gen)
	}
}

// TestPushImageModeForced: -b deploys a full image even where the host has
// Nix.
func TestPushImageModeForced(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.env"), []byte("ND_SECRET=s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := versionedApp(t, dir, "v1", `docker.environmentFiles = [ "secret.env" ];`)
	code, out, errOut := e.push(t, "-b", e.d.Name, cfg)
	if code != 0 {
		t.Fatalf("push -b exited %d", code)
	}
	if !strings.Contains(errOut, "image mode (-b given)") || !strings.Contains(out, "image mode") {
		t.Errorf("push -b did not use image mode: %q / %q", errOut, out)
	}
	if got := strings.TrimSpace(get(t, "http://"+e.d.Addr+":8090/cgi-bin/info")); got != "v1 v1" {
		t.Fatalf("app answered %q", got)
	}
	mounts := e.docker(t, "inspect", "-f", "{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "nd-upd")
	if strings.Contains(mounts, "/nix/store") {
		t.Errorf("-b container mounts %q, want no /nix/store", mounts)
	}
	if env := e.docker(t, "inspect", "-f", "{{.Config.Env}}", "nd-upd"); !strings.Contains(env, "ND_SECRET=s3cret") {
		t.Errorf("the secret env file did not reach the container: %s", env)
	}
	// Nothing was copied into the host's store.
	if out, err := e.d.Exec(context.Background(), "sh", "-c", "ls /nix/store | grep -c nd-upd || true"); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("the host's store holds the package after -b: %q %v", out, err)
	}
}

// TestPushImageModeDroppedConnection kills nd-push in the middle of an
// image transfer over a slow link to a host without Nix: the agent aborts
// the load (no half image), the running app is untouched, and the next push
// completes.
func TestPushImageModeDroppedConnection(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: false, Rate: "40mbit"})
	dir := t.TempDir()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	if code, _, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v1", "")); code != 0 {
		t.Fatalf("deploying v1 exited %d", code)
	}
	get(t, url)
	images := e.docker(t, "images", "-q", "nd/upd")

	// v2 carries 24 MB of incompressible data: ~5 s on this link.
	big := `docker.env.BLOB = "${pkgs.runCommand "blob" { } "mkdir $out; for i in 1 2 3; do head -c 8000000 /dev/urandom > $out/part$i; done"}";`
	cfg := versionedApp(t, dir, "v2", big)
	cmd := exec.Command(testutilBuild(t), "-F", e.d.SSHConfig(), "--agent-path", e.bins["nd-agent@droplet"], e.d.Name, cfg)
	cmd.Env = append(os.Environ(), "ND_INIT="+e.bins["nd-init"])
	logFile := filepath.Join(dir, "push.log")
	out, _ := os.Create(logFile)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		log, _ := os.ReadFile(logFile)
		if strings.Contains(string(log), "layers to send") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the transfer never started; nd-push said:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if log, _ := os.ReadFile(logFile); strings.Contains(string(log), "generation 2") {
		t.Fatalf("push finished before it was killed; make the blob bigger:\n%s", log)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
		t.Fatalf("after the dropped push the app answered %q, want v1 untouched", got)
	}
	// The agent notices the cut stream and dockerd pulls nothing.
	time.Sleep(time.Second)
	if now := e.docker(t, "images", "-q", "nd/upd"); now != images {
		t.Errorf("images after the dropped push: %q, before: %q", now, images)
	}
	if code, _, _ := e.push(t, e.d.Name, cfg); code != 0 {
		t.Fatalf("the push after the dropped one exited %d", code)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("after the retried push the app answered %q, want v2 v1", got)
	}
}

package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	m, err := manifest.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: hclog.NewNullLogger()}
	img, err := buildLayeredImage(ctx, env, pkg, m, "")
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
	have, err := h.agent.QueryLayers(ctx, img.DiffIDs())
	if err != nil {
		t.Fatal(err)
	}
	if have == 0 || have == len(img.Layers) {
		t.Fatalf("host has %d of %d layers of v3, want some but not all", have, len(img.Layers))
	}
	var archive bytes.Buffer
	if err := img.WriteDockerArchive(&archive, img.SkipBottom(have)); err != nil {
		t.Fatal(err)
	}
	manifestJSON, _ := os.ReadFile(filepath.Join(pkg, manifest.FileName))
	req := proto.DeployImage{App: m.Name, Package: pkg, ImageID: img.ID, RepoTag: img.RepoTag, DiffIDs: img.DiffIDs(), Skip: have, Manifest: manifestJSON}
	wrongID := req
	wrongID.ImageID = "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		req  proto.DeployImage
		data []byte
		want string
	}{
		{"corrupted layer", req, flipLayerByte(t, archive.Bytes()), "does not match its digest"},
		{"truncated", req, archive.Bytes()[:archive.Len()/2], "malformed image archive"},
		{"other image", wrongID, archive.Bytes(), "malformed image archive"},
	} {
		_, err := h.agent.DeployImage(ctx, tc.req, agentclient.DeployImageOptions{}, func(w io.Writer) error {
			_, err := w.Write(tc.data)
			return err
		})
		if !agentclient.IsCode(err, proto.CodeBadStream) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: DeployImage = %v, want %s refusal mentioning %q", tc.name, err, proto.CodeBadStream, tc.want)
		}
		if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
			t.Fatalf("after the %s stream the app answered %q, want v2 still running", tc.name, got)
		}
	}
	// Leaving out a layer the host does not have is refused before any
	// data is used: nd-push asks again then.
	gone := req
	gone.Skip = have + 1
	if _, err := h.agent.DeployImage(ctx, gone, agentclient.DeployImageOptions{}, func(w io.Writer) error {
		_, err := w.Write(archive.Bytes())
		return err
	}); !agentclient.IsCode(err, proto.CodeLayersGone) {
		t.Errorf("DeployImage skipping a layer the host lacks = %v, want %s", err, proto.CodeLayersGone)
	}
	if after := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-upd"); after != before {
		t.Errorf("refused streams replaced container %s by %s", before, after)
	}
	if out, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "image", "inspect", img.ID); err == nil {
		t.Errorf("a refused image is loaded: %s", out)
	}
	// The same image sent whole and intact deploys.
	dep, err := h.agent.DeployImage(ctx, req, agentclient.DeployImageOptions{}, func(w io.Writer) error {
		_, err := w.Write(archive.Bytes())
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

// flipLayerByte returns a copy of a docker-archive with one byte of its
// last layer changed (same sizes, wrong digest).
func flipLayerByte(t *testing.T, archive []byte) []byte {
	t.Helper()
	var last string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, "/layer.tar") {
			last = h.Name
		}
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr = tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		data, _ := io.ReadAll(tr)
		if h.Name == last {
			data[len(data)/3] ^= 0xff
		}
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
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
	// The agent notices the cut stream and docker load keeps nothing.
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

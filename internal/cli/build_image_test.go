package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/testutil"
)

// runND runs nd-push in-process and fails the test unless it succeeds.
func runND(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("nd-push %s exited %d:\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String(), errb.String()
}

func buildImageEnv(t *testing.T) string {
	t.Helper()
	testutil.RequireCommands(t, "nix-build", "nix-store")
	bins := testutil.BuildBinaries(t, "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // a cold diffID cache
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestBuildImageReproducible: two builds of the same config write the same
// archive, byte for byte, and the same OCI layout.
func TestBuildImageReproducible(t *testing.T) {
	root := buildImageEnv(t)
	cfg := filepath.Join(root, "examples", "hello", "config.nix")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	outA, _ := runND(t, "build", "-b", "-o", a, cfg)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the second without the cache too
	outB, _ := runND(t, "build", "-b", "-o", b, cfg)
	if outA != outB || !strings.HasPrefix(outA, "sha256:") || !strings.Contains(outA, " nd/hello:") {
		t.Errorf("image ID and tag: %q then %q, want the same 'sha256:... nd/hello:...'", outA, outB)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if len(da) == 0 || !bytes.Equal(da, db) {
		t.Errorf("two builds differ: %d and %d bytes", len(da), len(db))
	}
	// With a warm cache, the same bytes again.
	c := filepath.Join(dir, "c.tar")
	runND(t, "build", "-b", "-o", c, cfg)
	if dc, _ := os.ReadFile(c); !bytes.Equal(da, dc) {
		t.Errorf("a build with the diffID cache differs")
	}

	ociDir, ociTar := filepath.Join(dir, "oci"), filepath.Join(dir, "oci.tar")
	outO, _ := runND(t, "build", "-b", "--oci", "-o", ociDir, cfg)
	runND(t, "build", "-b", "--oci", "-o", ociTar, cfg)
	if outO != outA {
		t.Errorf("OCI build printed %q, docker-archive build %q", outO, outA)
	}
	for _, f := range []string{"oci-layout", "index.json", "blobs/sha256/" + strings.TrimPrefix(strings.Fields(outA)[0], "sha256:")} {
		if _, err := os.Stat(filepath.Join(ociDir, f)); err != nil {
			t.Errorf("OCI layout: %v", err)
		}
	}
	list, err := exec.Command("tar", "tf", ociTar).Output()
	if err != nil || !strings.Contains(string(list), "index.json") {
		t.Errorf("OCI tar lists %q, %v", list, err)
	}
	// Usage errors.
	if code := Run(context.Background(), []string{"build", "-b", cfg}, io.Discard, io.Discard); code != ExitUsage {
		t.Errorf("build -b without -o exited %d, want %d", code, ExitUsage)
	}
	if code := Run(context.Background(), []string{"build", "--oci", cfg}, io.Discard, io.Discard); code != ExitUsage {
		t.Errorf("build --oci without -b exited %d, want %d", code, ExitUsage)
	}
}

// TestBuildImageLoadsAndRuns: the docker-archive loads into the local
// dockerd and the app answers; --from BASE builds on that image without
// adding the store paths it holds.
func TestBuildImageLoadsAndRuns(t *testing.T) {
	root := buildImageEnv(t)
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "docker")
	ok := exec.Command("docker", "info").Run() == nil
	testutil.Require(t, ok, "needs the local dockerd (scripts/setup.sh starts it)")
	dir := t.TempDir()
	file := filepath.Join(dir, "hello.tar")
	out, _ := runND(t, "build", "-b", "-o", file, filepath.Join(root, "examples", "hello", "config.nix"))
	id, tag, _ := strings.Cut(strings.TrimSpace(out), " ")
	docker := func(args ...string) string {
		t.Helper()
		b, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return strings.TrimSpace(string(b))
	}
	name := fmt.Sprintf("ndtest-buildimage-%d", os.Getpid())
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", name).Run()
		exec.Command("docker", "rmi", tag).Run()
	})
	if got := docker("load", "-i", file); !strings.Contains(got, tag) {
		t.Errorf("docker load said %q, want %s", got, tag)
	}
	if got := docker("image", "inspect", "-f", "{{.Id}}", tag); got != id {
		t.Errorf("loaded image ID %s, nd-push printed %s", got, id)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	docker("run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), tag)
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.Contains(body, "hello from nd") {
		t.Errorf("the loaded image answered %q", body)
	}

	// --from: the versioned app shares busybox and nd-init with hello.
	file2 := filepath.Join(dir, "upd.tar")
	cfg := versionedApp(t, dir, "v1", "")
	out2, _ := runND(t, "build", "-b", "--from", file, "-o", file2, cfg)
	_, tag2, _ := strings.Cut(strings.TrimSpace(out2), " ")
	t.Cleanup(func() { exec.Command("docker", "rmi", tag2).Run() })
	base, err := image.ReadDockerArchive(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.ReadDockerArchive(file2)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) <= len(base.Layers) {
		t.Fatalf("image on the base has %d layers, the base %d", len(img.Layers), len(base.Layers))
	}
	for i, l := range base.Layers {
		if img.Layers[i].DiffID != l.DiffID {
			t.Fatalf("layer %d is %s, want the base's %s", i, img.Layers[i].DiffID, l.DiffID)
		}
	}
	held, err := base.StorePaths()
	if err != nil {
		t.Fatal(err)
	}
	own, err := (&image.Base{Layers: img.Layers[len(base.Layers):]}).StorePaths()
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for p := range own {
		if held[p] {
			t.Errorf("%s is in the base and added again", p)
		}
	}
	var buildOut bytes.Buffer
	if code := Run(context.Background(), []string{"build", cfg}, &buildOut, io.Discard); code != 0 {
		t.Fatal("building the package")
	}
	req, _ := exec.Command("nix-store", "-qR", strings.TrimSpace(buildOut.String())).Output()
	for _, p := range strings.Fields(string(req)) {
		if held[p] {
			shared++
		}
	}
	if shared == 0 {
		t.Errorf("the test's base shares no store path with the app: it proves nothing")
	}
	if got := docker("load", "-i", file2); !strings.Contains(got, "nd/upd:") {
		t.Errorf("docker load of the image on the base said %q", got)
	}
}

package nixbuild_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/testutil"
)

// TestFlakeBuild builds examples/flake#hello (nd's lib.ndConfiguration with
// nd's offline pkgs, locked offline against this checkout and the nixpkgs
// lib snapshot) and wants the very package its module gives as a plain
// config.nix: the flake path adds nothing but nd-init and busybox.
func TestFlakeBuild(t *testing.T) {
	requireNix(t)
	testutil.RequireCommands(t, "nix")
	dir := testutil.ExampleFlake(t)
	pkg, err := build(t, dir+"#hello", func(o *nixbuild.Options) { o.Offline = false })
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(pkg)
	if err != nil || m.Name != "hello" {
		t.Fatalf("manifest of %s = %+v, %v; want app hello", pkg, m, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "flake.lock")); err != nil {
		t.Errorf("the flake was not locked as nix build would: %v", err)
	}
	// Relative references resolve against the working directory, like nix's.
	// (repoRoot, which the build helper uses, is relative: resolve it first.)
	init, _ := ndInit(t)
	t.Chdir(dir)
	if got, err := build(t, "#hello", func(o *nixbuild.Options) { o.NDInit = init }); err != nil || got != pkg {
		t.Errorf("build #hello in the flake = %s, %v; want %s", got, err, pkg)
	}
	cfg := filepath.Join(dir, "config.nix")
	if err := os.Rename(filepath.Join(dir, "app.nix"), cfg); err != nil {
		t.Fatal(err)
	}
	plain, err := build(t, cfg, func(o *nixbuild.Options) { o.NDInit = init; o.Name = "hello" })
	if err != nil {
		t.Fatal(err)
	}
	if plain != pkg {
		t.Errorf("flake built %s, the same module as config.nix %s", pkg, plain)
	}
}

// TestFlakeErrors: a missing entry names the ones there are; a directory
// without flake.nix is refused before Nix runs.
func TestFlakeErrors(t *testing.T) {
	requireNix(t)
	testutil.RequireCommands(t, "nix")
	dir := testutil.ExampleFlake(t)
	_, err := build(t, dir+"#nope", nil)
	if err == nil || !strings.Contains(err.Error(), "no ndConfigurations.nope; it has: hello") {
		t.Errorf("build #nope = %v, want an error listing hello", err)
	}
	r := &recorder{}
	_, err = build(t, t.TempDir()+"#hello", func(o *nixbuild.Options) { o.Runner = r.runner() })
	if err == nil || !strings.Contains(err.Error(), "flake.nix") || len(r.calls) != 0 {
		t.Errorf("build of a directory without flake.nix = %v (ran %q), want an error naming flake.nix and no Nix run", err, r.calls)
	}
}

// TestFlakeNix234 builds the example flake with nd-push under Nix 2.34 (a
// chroot of the modern droplets' Debian sid root filesystem on a throwaway
// overlay), where flakes are no longer experimental in spirit but still
// need the features turned on.
func TestFlakeNix234(t *testing.T) {
	requireNix(t)
	testutil.RequireSidRootfs(t)
	dir := testutil.ExampleFlake(t)
	bins := testutil.BuildBinaries(t, "nd-push", "nd-init")
	root, _ := testutil.ModuleRoot()
	lib := testutil.RequireNixpkgsLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := testutil.SidChroot(ctx, t, []string{root, lib, dir, filepath.Dir(bins["nd-push"])},
		[]string{"NIX_CONFIG=flake-registry = ", "ND_INIT=" + bins["nd-init"]},
		`nix --version >&2; cd `+dir+` && `+bins["nd-push"]+` build "#hello"`)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("nd-push build under Nix 2.34: %v", err)
	}
	if !strings.Contains(stderr.String(), "2.34") {
		t.Errorf("the chroot's Nix is not 2.34: %s", stderr.String())
	}
	if !regexp.MustCompile(`^/nix/store/[0-9a-z]{32}-nd-hello\n$`).Match(out) {
		t.Errorf("nd-push build printed %q, want the hello package", out)
	}
}

// TestFlakeVendorHash: flake.nix's vendorHash for nd's programs is the NAR
// hash of `go mod vendor`, as nixpkgs' buildGoModule computes it, so
// packages.<system> keeps building when go.sum changes.
func TestFlakeVendorHash(t *testing.T) {
	testutil.RequireCommands(t, "go", "nix")
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "flake.nix"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`vendorHash = "([^"]+)"`).FindSubmatch(data)
	if m == nil {
		t.Fatal("flake.nix has no vendorHash")
	}
	vendor := filepath.Join(t.TempDir(), "vendor")
	cmd := exec.Command("go", "mod", "vendor", "-o", vendor)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "hash", "path", vendor).Output()
	if err != nil {
		t.Fatalf("nix hash path: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != string(m[1]) {
		t.Errorf("flake.nix vendorHash = %s, go mod vendor hashes to %s: update flake.nix", m[1], got)
	}
}

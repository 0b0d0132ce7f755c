package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ExampleFlake copies examples/flake into a temporary directory with its nd
// input pointed at this checkout and nd's nixpkgs-lib and nixpkgs inputs at
// the nixpkgs lib snapshot, and returns the directory: a user's flake that
// locks and builds offline. It also turns the flake registry off for the
// test (NIX_CONFIG), so nothing can look a name up on the network.
func ExampleFlake(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "flake")
	WriteExampleFlake(t, dst, root, RequireNixpkgsLib(t))
	t.Setenv("NIX_CONFIG", "flake-registry = \n"+os.Getenv("NIX_CONFIG"))
	return dst
}

// WriteExampleFlake writes examples/flake to dst with its nd input at the
// directory nd and nd's nixpkgs-lib and nixpkgs inputs at lib, as the Nix
// that evaluates it sees them (another machine's, for a flake written into
// a droplet).
func WriteExampleFlake(t *testing.T, dst, nd, lib string) {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "examples", "flake")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
	f := filepath.Join(dst, "flake.nix")
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	const upstream = `inputs.nd.url = "github:nd-project/nd";`
	if !strings.Contains(string(data), upstream) {
		t.Fatalf("%s no longer says %s", f, upstream)
	}
	local := `inputs.nd.url = "path:` + nd + `";
  inputs.nd.inputs.nixpkgs-lib.url = "path:` + lib + `";
  inputs.nd.inputs.nixpkgs.url = "path:` + lib + `";`
	if err := os.WriteFile(f, []byte(strings.Replace(string(data), upstream, local, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

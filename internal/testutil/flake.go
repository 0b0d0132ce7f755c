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
	lib := RequireNixpkgsLib(t)
	src := filepath.Join(root, "examples", "flake")
	dst := filepath.Join(t.TempDir(), "flake")
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
	local := `inputs.nd.url = "path:` + root + `";
  inputs.nd.inputs.nixpkgs-lib.url = "path:` + lib + `";
  inputs.nd.inputs.nixpkgs.url = "path:` + lib + `";`
	if err := os.WriteFile(f, []byte(strings.Replace(string(data), upstream, local, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIX_CONFIG", "flake-registry = \n"+os.Getenv("NIX_CONFIG"))
	return dst
}

package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// NixpkgsLibEnv names the nixpkgs lib checkout tests evaluate with (a
// directory holding lib/, such as nixpkgs.lib). Unset: the snapshot at
// ../shared/third_party/nixpkgs-lib beside the repository (CI clones the
// repository with shared/ next to it), looked up from the repository root
// upwards so git worktrees find it too. It is reference material outside
// the project and never copied into it.
const NixpkgsLibEnv = "ND_NIXPKGS_LIB"

// nixpkgsLibRel is the snapshot's place relative to a directory above the
// repository root.
const nixpkgsLibRel = "shared/third_party/nixpkgs-lib"

// NixpkgsLib returns the nixpkgs lib checkout tests use (see NixpkgsLibEnv).
func NixpkgsLib() (string, error) {
	if d := os.Getenv(NixpkgsLibEnv); d != "" {
		if _, err := os.Stat(filepath.Join(d, "lib", "default.nix")); err != nil {
			return "", fmt.Errorf("%s=%s: not a nixpkgs lib checkout: %w", NixpkgsLibEnv, d, err)
		}
		return filepath.Abs(d)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, nixpkgsLibRel)
		if _, err := os.Stat(filepath.Join(cand, "lib", "default.nix")); err == nil {
			return cand, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no nixpkgs lib: set %s or put the snapshot at ../%s beside the repository", NixpkgsLibEnv, nixpkgsLibRel)
		}
	}
}

// RequireNixpkgsLib returns NixpkgsLib, skipping (or failing, in CI) when
// there is none.
func RequireNixpkgsLib(t testing.TB) string {
	t.Helper()
	d, err := NixpkgsLib()
	Require(t, err == nil, fmt.Sprint(err))
	return d
}

// init puts the nixpkgs lib on NIX_PATH for the whole test process when
// NIX_PATH names no nixpkgs: nd evaluates every config with nixpkgs' lib,
// and every test that builds (in process or through the nd-push binary)
// finds it there, as a user's build would. Tests that need another NIX_PATH
// set their own with t.Setenv.
func init() {
	np := os.Getenv("NIX_PATH")
	for _, e := range strings.Split(np, ":") {
		if strings.HasPrefix(e, "nixpkgs=") {
			return
		}
	}
	d, err := NixpkgsLib()
	if err != nil {
		return // RequireNixpkgsLib reports it in the tests that need it
	}
	if np == "" {
		os.Setenv("NIX_PATH", "nixpkgs="+d)
	} else {
		os.Setenv("NIX_PATH", "nixpkgs="+d+":"+np)
	}
}

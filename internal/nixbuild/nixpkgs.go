package nixbuild

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Nixpkgs is where a build takes nixpkgs' lib and pkgs from.
type Nixpkgs struct {
	// Lib is the directory whose default.nix is nixpkgs' lib.
	Lib string
	// Pkgs is a full nixpkgs checkout to `import` as pkgs; empty means nd's
	// offline pkgs (a lib-only checkout such as nixpkgs.lib, or --offline).
	Pkgs string
}

// ErrNoNixpkgsLib is returned when no nixpkgs lib was given or found. nd has
// no module system of its own: it evaluates with the nixpkgs lib users run.
var ErrNoNixpkgsLib = errors.New("no nixpkgs lib to evaluate the config with: pass --nixpkgs DIR or -I nixpkgs=DIR " +
	"(a nixpkgs checkout, or only its lib: git clone https://github.com/nix-community/nixpkgs.lib DIR), " +
	"or put nixpkgs=DIR on NIX_PATH; flakes get it from nd's nixpkgs-lib input")

// ResolveNixpkgs finds the nixpkgs to build with: given (--nixpkgs or
// -I nixpkgs=), else nixpkgs on nixPath (NIX_PATH). DIR may be a nixpkgs
// checkout (lib and pkgs), a checkout holding only lib/ (nixpkgs.lib: its
// lib with nd's offline pkgs) or a lib directory itself. offline keeps nd's
// offline pkgs even with a full nixpkgs.
func ResolveNixpkgs(given, nixPath string, offline bool) (Nixpkgs, error) {
	dir := given
	if dir == "" {
		dir = NixpkgsFromNixPath(nixPath)
		if dir == "" {
			return Nixpkgs{}, ErrNoNixpkgsLib
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Nixpkgs{}, fmt.Errorf("resolving nixpkgs path: %w", err)
	}
	var np Nixpkgs
	switch {
	case fileExists(filepath.Join(abs, "lib", "default.nix")):
		np.Lib = filepath.Join(abs, "lib")
		if !offline && fileExists(filepath.Join(abs, "default.nix")) {
			np.Pkgs = abs
		}
	case fileExists(filepath.Join(abs, "modules.nix")) && fileExists(filepath.Join(abs, "default.nix")):
		np.Lib = abs // DIR is a lib directory
	default:
		return Nixpkgs{}, fmt.Errorf("nixpkgs %s: neither a nixpkgs checkout nor a nixpkgs lib (no lib/default.nix)", dir)
	}
	return np, nil
}

// NixpkgsFromNixPath finds nixpkgs in a NIX_PATH value: an entry
// nixpkgs=PATH, or a directory entry holding nixpkgs/. It returns "" when
// none exists locally (URLs are not fetched).
func NixpkgsFromNixPath(nixPath string) string {
	for _, e := range strings.Split(nixPath, ":") {
		var cand string
		switch {
		case strings.HasPrefix(e, "nixpkgs="):
			cand = strings.TrimPrefix(e, "nixpkgs=")
		case strings.Contains(e, "="), e == "":
			continue
		default:
			cand = filepath.Join(e, "nixpkgs")
		}
		if fileExists(filepath.Join(cand, "lib", "default.nix")) {
			return cand
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

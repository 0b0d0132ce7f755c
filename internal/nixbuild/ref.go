package nixbuild

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Ref kinds: what the last argument of `nd-push HOST... REF` names.
const (
	RefConfig  = "config"  // a config.nix file, or a directory holding one
	RefPackage = "package" // a deploy package already in the store
	RefFlake   = "flake"   // FLAKE#NAME: a flake's ndConfigurations.NAME
)

// RefKind says what arg names, or "" when it is no config, flake reference
// or package path. It is the one place nd-push decides that, so the command
// line and the builder agree.
func RefKind(arg string) string {
	switch {
	case arg == "":
		return ""
	case strings.HasPrefix(arg, "/nix/store/"):
		return RefPackage
	case strings.Contains(arg, "#"):
		if _, _, err := SplitFlakeRef(arg); err == nil {
			return RefFlake
		}
		return ""
	case strings.HasSuffix(arg, ".nix"):
		return RefConfig
	}
	if fi, err := os.Stat(arg); err == nil {
		if !fi.IsDir() {
			return RefConfig
		}
		if _, err := os.Stat(arg + "/config.nix"); err == nil {
			return RefConfig
		}
	}
	return ""
}

// IsConfigRef reports whether arg names something nd-push can deploy.
func IsConfigRef(arg string) bool { return RefKind(arg) != "" }

// SplitFlakeRef splits FLAKE#NAME into the flake reference and the name of
// its ndConfigurations entry. FLAKE is a path (".", "./dir", "/abs"; empty
// means ".") or any flake reference Nix understands ("github:o/r",
// "git+https://…", "path:…", a registry name); paths are made absolute, as
// builtins.getFlake needs them.
func SplitFlakeRef(arg string) (flake, name string, err error) {
	i := strings.LastIndex(arg, "#")
	if i < 0 {
		return "", "", fmt.Errorf("flake reference %q: want FLAKE#NAME", arg)
	}
	flake, name = arg[:i], arg[i+1:]
	if name == "" || strings.ContainsAny(name, "/\"\\ ") {
		return "", "", fmt.Errorf("flake reference %q: NAME after # must be an ndConfigurations attribute name", arg)
	}
	if flake == "" {
		flake = "."
	}
	if isFlakePath(flake) {
		abs, err := filepath.Abs(flake)
		if err != nil {
			return "", "", fmt.Errorf("flake reference %q: %w", arg, err)
		}
		flake = abs
	}
	return flake, name, nil
}

// isFlakePath reports whether a flake reference is a local path, the way
// Nix's parser tells them from URLs and registry names.
func isFlakePath(ref string) bool {
	return ref == "." || ref == ".." || strings.HasPrefix(ref, "/") ||
		strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../")
}

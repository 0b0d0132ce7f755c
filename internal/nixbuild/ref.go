package nixbuild

import (
	"os"
	"strings"
)

// Ref kinds: what the last argument of `nd-push HOST... REF` names.
const (
	RefConfig  = "config"  // a config.nix file, or a directory holding one
	RefPackage = "package" // a deploy package already in the store
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

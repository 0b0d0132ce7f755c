//go:build !linux

package image

import "fmt"

// etcFiles needs Linux: the confinement in etc.go rests on openat2 and
// O_PATH. nd-push builds for macOS so that its commands needing no local
// Linux build work there; a layered image needs the package in the local
// store, which a macOS laptop does not build.
func etcFiles(root, etc string, allowed func(string) bool) ([]File, error) {
	return nil, fmt.Errorf("copying /etc from %s: reading a package's etc confined to its closure needs Linux (openat2); "+
		"build image-mode images on Linux", etc)
}

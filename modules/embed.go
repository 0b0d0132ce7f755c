// Package modules holds nd's Nix modules (the NixOS-style options users
// write in config.nix, evaluated with nixpkgs' lib, and the offline pkgs in
// pkgs/) embedded in the nd-push binary, and writes them to a
// content-addressed cache directory that nix-build reads. Only
// internal/nixbuild imports it. The repository's flake.nix reads the same
// files (eval.nix, pkgs/) from the source tree.
package modules

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// files holds every module file, including pkgs/; tests/ is left out.
//
//go:embed *.nix pkgs
var files embed.FS

// EntryPoint is build.nix's path relative to the directory Extract returns.
const EntryPoint = "build.nix"

// FlakeEntryPoint builds a flake's ndConfigurations.<name> (flake-build.nix).
const FlakeEntryPoint = "flake-build.nix"

// FS returns the embedded module tree.
func FS() fs.FS { return files }

// Hash is a digest of every embedded file's path and contents.
func Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		// WalkDir visits in lexical order, so the digest is stable.
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing embedded modules: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// CacheRoot is where Extract writes by default: $XDG_CACHE_HOME/nd, else
// the user's cache directory + /nd.
func CacheRoot() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding cache directory: %w", err)
	}
	return filepath.Join(dir, "nd"), nil
}

// Extract writes the modules to root/modules-<hash> (root "" means
// CacheRoot) unless that directory already exists, and returns its path. The
// directory is complete once it exists: it is written under a temporary name
// and renamed.
func Extract(root string) (string, error) {
	if root == "" {
		r, err := CacheRoot()
		if err != nil {
			return "", err
		}
		root = r
	}
	sum, err := Hash()
	if err != nil {
		return "", err
	}
	dst := filepath.Join(root, "modules-"+sum)
	if _, err := os.Stat(filepath.Join(dst, EntryPoint)); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("creating module cache: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".modules-tmp-")
	if err != nil {
		return "", fmt.Errorf("creating module cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(tmp, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("writing modules to %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("writing modules: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		// Another nd-push may have won the race; its copy is identical.
		if _, statErr := os.Stat(filepath.Join(dst, EntryPoint)); statErr == nil {
			return dst, nil
		}
		return "", fmt.Errorf("installing modules in %s: %w", dst, err)
	}
	return dst, nil
}

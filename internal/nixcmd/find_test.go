package nixcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindInInstallerDirs(t *testing.T) {
	empty, profile, nixos := t.TempDir(), t.TempDir(), t.TempDir()
	old := InstallerBinDirs
	InstallerBinDirs = []string{profile, nixos}
	t.Cleanup(func() { InstallerBinDirs = old })
	t.Setenv("PATH", empty)

	_, err := Find("nix-store")
	for _, w := range []string{"nix-store not found on PATH (" + empty + ")", profile, nixos} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Find without Nix = %v, want an error naming %q", err, w)
		}
	}
	// A non-executable file is not a program.
	os.WriteFile(filepath.Join(profile, "nix-store"), []byte("#!/bin/sh\n"), 0o644)
	if p, err := Find("nix-store"); err == nil {
		t.Errorf("Find found the non-executable %s", p)
	}
	want := filepath.Join(nixos, "nix-store")
	os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755)
	p, err := Find("nix-store")
	if err != nil || p != want {
		t.Fatalf("Find = %q, %v; want %s", p, err, want)
	}
	if got := os.Getenv("PATH"); got != empty+":"+nixos {
		t.Errorf("PATH = %q, want %q: Nix's directory appended", got, empty+":"+nixos)
	}
	// Found on PATH now: PATH is not extended twice.
	if p, err := Find("nix-store"); err != nil || p != want || os.Getenv("PATH") != empty+":"+nixos {
		t.Errorf("second Find = %q, %v, PATH %q", p, err, os.Getenv("PATH"))
	}
}

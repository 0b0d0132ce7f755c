package nixcmd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// InstallerBinDirs are where Nix's tools live when they are not on PATH:
// the default profile of the official and Determinate installers (whose
// shell profile scripts a service's or a non-login shell's PATH never
// reads), and NixOS's system profile.
var InstallerBinDirs = []string{
	"/nix/var/nix/profiles/default/bin",
	"/run/current-system/sw/bin",
}

var pathMu sync.Mutex

// Find looks for the Nix program (nix-store, nix-build) on PATH, then in
// InstallerBinDirs, and returns its path. Found only in one of those, its
// directory is added to the end of this process's PATH, so every Nix
// command the process runs by name, and what those run, find the tools.
// Root's nix-store then works on the store directly, next to a running
// nix-daemon. The error names every place that was looked at.
func Find(program string) (string, error) {
	if filepath.IsAbs(program) {
		if _, err := exec.LookPath(program); err != nil {
			return "", fmt.Errorf("%s is not an executable: %w", program, err)
		}
		return program, nil
	}
	pathMu.Lock()
	defer pathMu.Unlock()
	if p, err := exec.LookPath(program); err == nil {
		return p, nil
	}
	for _, dir := range InstallerBinDirs {
		p := filepath.Join(dir, program)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		path := os.Getenv("PATH")
		if path == "" {
			path = dir
		} else {
			path += string(os.PathListSeparator) + dir
		}
		os.Setenv("PATH", path)
		return p, nil
	}
	return "", fmt.Errorf("%s not found on PATH (%s) nor in %s", program, os.Getenv("PATH"), strings.Join(InstallerBinDirs, " or "))
}

package cli

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// hostGOARCH maps a droplet's `uname -m` to the GOARCH its nd-agent needs.
func hostGOARCH(unameM string) (string, error) {
	switch unameM {
	case "x86_64", "amd64":
		return "amd64", nil
	case "aarch64", "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("nd-agent is built for amd64 and arm64 hosts, not %s", unameM)
}

// elfGOARCH is the GOARCH of a Linux ELF executable.
func elfGOARCH(file string) (string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", fmt.Errorf("not a Linux executable: %w", err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_")), nil
}

// agentCandidates are the files install-agent looks at, in order, for a
// host of goarch: those named for the architecture first (a release or a
// macOS laptop keeps one per architecture beside nd-push), then plain
// nd-agent (a Linux laptop's own build).
func agentCandidates(dir, goarch string) []string {
	return []string{
		filepath.Join(dir, "nd-agent-linux-"+goarch),
		filepath.Join(dir, "linux-"+goarch, "nd-agent"),
		filepath.Join(dir, "nd-agent"),
	}
}

// pickAgentBinary returns the nd-agent to upload to a host whose `uname -m`
// is unameM: given (--agent-binary), which must match, else the first of
// agentCandidates(dir) built for it. The error says where it looked and what
// each file was, and how to build the right one.
func pickAgentBinary(given, dir, unameM string) (string, error) {
	goarch, err := hostGOARCH(unameM)
	if err != nil {
		return "", err
	}
	if given != "" {
		got, err := elfGOARCH(given)
		if err != nil {
			return "", fmt.Errorf("--agent-binary %s: %w", given, err)
		}
		if got != goarch {
			return "", fmt.Errorf("the host is %s (linux/%s), but --agent-binary %s is built for linux/%s: "+
				"build nd-agent with GOOS=linux GOARCH=%s", unameM, goarch, given, got, goarch)
		}
		return given, nil
	}
	var looked []string
	for _, c := range agentCandidates(dir, goarch) {
		if _, err := os.Stat(c); err != nil {
			looked = append(looked, c+" (missing)")
			continue
		}
		got, err := elfGOARCH(c)
		switch {
		case err != nil:
			looked = append(looked, c+" ("+err.Error()+")")
		case got != goarch:
			looked = append(looked, c+" (built for linux/"+got+")")
		default:
			return c, nil
		}
	}
	return "", fmt.Errorf("no nd-agent for the host's linux/%s (uname -m %s); looked at:\n  %s\n"+
		"build one with: CGO_ENABLED=0 GOOS=linux GOARCH=%s go build -o %s ./cmd/nd-agent (or pass --agent-binary)",
		goarch, unameM, strings.Join(looked, "\n  "), goarch, agentCandidates(dir, goarch)[0])
}

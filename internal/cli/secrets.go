package cli

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// agentStateDir is nd-agent's default state directory (internal/agent's
// DefaultStateDir), for agents that do not report theirs; secret env files
// go below it.
const agentStateDir = "/var/lib/nd-agent"

// secretSet is the contents of an app's docker.environmentFiles, read on
// the laptop. The contents go to the host over SFTP only: never into the
// store, a log, or an error message (those name the local path at most).
type secretSet struct {
	paths    []string // local paths, for messages
	contents [][]byte
	hash     string // proto.SecretsHash of contents
}

// Hash names the set for the agent; "" without secrets.
func (s *secretSet) Hash() string {
	if s == nil {
		return ""
	}
	return s.hash
}

// readSecrets reads and checks m's environment files (KEY=VALUE lines,
// blank lines and '#' comments, as docker --env-file).
func readSecrets(m *manifest.Manifest) (*secretSet, error) {
	if len(m.EnvironmentFiles) == 0 {
		return nil, nil
	}
	// Checked here, before anything is uploaded: the agent would refuse
	// them only after the upload.
	e, err := manifest.ReadEnvFiles(m.EnvironmentFiles)
	if err != nil {
		return nil, fmt.Errorf("docker.environmentFiles: %w", err)
	}
	s := &secretSet{paths: e.Paths, contents: e.Contents}
	s.hash = proto.SecretsHash(s.contents)
	return s, nil
}

// uploadSecrets puts s into the agent's state directory on h:
// apps/<app>/secrets/<hash>/<i>.env, dirs 0700, files 0600, each file
// written under a temporary name and renamed, so a concurrent deploy never
// reads half a file. A root login writes there over SFTP; another login
// uploads into a private temporary directory and moves the files with
// `sudo -n install`.
func uploadSecrets(ctx context.Context, h *host, app string, s *secretSet) error {
	if s == nil {
		return nil
	}
	state := h.stateDir
	if !path.IsAbs(state) {
		state = agentStateDir
	}
	appDir := path.Join(state, "apps", app)
	dir := path.Join(appDir, "secrets", s.hash)
	sc, err := h.ssh.SFTP()
	if err != nil {
		return fmt.Errorf("opening SFTP to %s for secrets: %w", h.name, err)
	}
	if h.ssh.SSH().User() == "root" {
		if err := sc.MkdirAll(dir); err != nil {
			return fmt.Errorf("making %s on %s: %w", dir, h.name, err)
		}
		for _, d := range []string{path.Join(state, "apps"), appDir, path.Dir(dir), dir} {
			if err := sc.Chmod(d, 0o700); err != nil {
				return fmt.Errorf("chmod %s on %s: %w", d, h.name, err)
			}
		}
		for i, data := range s.contents {
			tmp := path.Join(dir, fmt.Sprintf(".tmp-%d-%s", i, randHex()))
			if err := createRemote(h, tmp, 0o600, data); err != nil {
				return err
			}
			if err := sc.PosixRename(tmp, path.Join(dir, fmt.Sprintf("%d.env", i))); err != nil {
				sc.Remove(tmp)
				return fmt.Errorf("uploading secrets to %s: %w", h.name, err)
			}
		}
		return nil
	}
	out, err := h.ssh.Run(ctx, "mktemp -d")
	if err != nil {
		return fmt.Errorf("making a temporary directory on %s: %w", h.name, err)
	}
	tmpDir := strings.TrimSpace(string(out))
	defer h.ssh.Run(context.WithoutCancel(ctx), "rm -rf "+shellQuote(tmpDir))
	var script strings.Builder
	fmt.Fprintf(&script, "set -e; umask 077; install -d -m 0700 %s %s %s %s\n",
		shellQuote(path.Join(state, "apps")), shellQuote(appDir), shellQuote(path.Dir(dir)), shellQuote(dir))
	for i, data := range s.contents {
		src := path.Join(tmpDir, fmt.Sprintf("%d.env", i))
		if err := createRemote(h, src, 0o600, data); err != nil {
			return err
		}
		tmp := path.Join(dir, fmt.Sprintf(".tmp-%d-%s", i, randHex()))
		fmt.Fprintf(&script, "install -m 0600 %s %s && mv -f %s %s\n", shellQuote(src), shellQuote(tmp), shellQuote(tmp), shellQuote(path.Join(dir, fmt.Sprintf("%d.env", i))))
	}
	if _, err := h.ssh.Run(ctx, "sudo -n sh -c "+shellQuote(script.String())); err != nil {
		return fmt.Errorf("installing secrets on %s (a non-root login needs passwordless sudo for docker.environmentFiles): %w", h.name, err)
	}
	return nil
}

package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
	"github.com/nd-project/nd/systemd"
)

// installOptions are nd-push install-agent's flags.
type installOptions struct {
	ssh       sshFlags
	Binary    string // local nd-agent to upload
	Dest      string // where it goes on the host
	NoSystemd bool   // run it detached where the host has no systemd
	Target    string

	searchDir string // where to look for nd-agent binaries; "" is nd-push's directory
}

func newInstallAgentCmd(env *Env) *cobra.Command {
	o := &installOptions{}
	c := hostCmd("install-agent [flags] [user@]host", "upload nd-agent to a host and start it (systemd, or --no-systemd)",
		hostArgs(1, 1), &o.ssh, func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			if !path.IsAbs(o.Dest) {
				return usagef("install-agent: --dest %q is not an absolute path", o.Dest)
			}
			return runInstallAgent(cmd.Context(), env, o)
		})
	fs := c.Flags()
	fs.StringVar(&o.Binary, "agent-binary", "", "local nd-agent `FILE` to upload (default: next to nd-push, nd-agent-linux-ARCH or nd-agent for the host's uname -m)")
	fs.StringVar(&o.Dest, "dest", systemd.DefaultAgentPath, "`PATH` of nd-agent on the host")
	fs.BoolVar(&o.NoSystemd, "no-systemd", false, "on a host without systemd, run nd-agent detached (it does not come back after a reboot)")
	return c
}

// agentSearchDir is where install-agent looks for nd-agent binaries: the
// directory of this executable, or opts' override (tests).
func agentSearchDir(o *installOptions) (string, error) {
	if o.searchDir != "" {
		return o.searchDir, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding nd-agent next to nd-push: %w", err)
	}
	return filepath.Dir(self), nil
}

// runInstallAgent uploads nd-agent over SFTP, installs it atomically, and
// (re)starts it under systemd or, when asked, detached. Running apps are not
// touched: their containers belong to dockerd, not to the agent.
func runInstallAgent(ctx context.Context, env *Env, o *installOptions) error {
	dir, err := agentSearchDir(o)
	if err != nil {
		return err
	}
	if o.Binary != "" {
		// A file that is no Linux executable is refused before connecting.
		if _, err := elfGOARCH(o.Binary); err != nil {
			return fmt.Errorf("--agent-binary %s: %w", o.Binary, err)
		}
	}
	if o.ssh.AgentPath == "nd-agent" {
		o.ssh.AgentPath = o.Dest
	}
	h, err := connect(ctx, env, &o.ssh, o.Target)
	if err != nil {
		return err
	}
	defer h.Close()
	sudo := ""
	if h.ssh.SSH().User() != "root" {
		sudo = "sudo -n "
	}
	run := func(step, cmd string) (string, error) {
		out, err := h.ssh.Run(ctx, cmd)
		if err != nil {
			return "", fmt.Errorf("%s on %s: %w", step, h.name, err)
		}
		return strings.TrimSpace(string(out)), nil
	}

	arch, err := run("checking the architecture", "uname -m")
	if err != nil {
		return err
	}
	bin, err := pickAgentBinary(o.Binary, dir, arch)
	if err != nil {
		return fmt.Errorf("%s: %w", h.name, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading %s: %w", bin, err)
	}
	sum := sha256.Sum256(data)
	hasSystemd := false
	if out, err := run("looking for systemd", "test -d /run/systemd/system && echo yes || echo no"); err != nil {
		return err
	} else {
		hasSystemd = out == "yes"
	}
	if !hasSystemd && !o.NoSystemd {
		return fmt.Errorf("%s does not run systemd, so nd-agent cannot be installed as a service; "+
			"pass --no-systemd to run it detached (it will not come back after a reboot)", h.name)
	}
	if sudo != "" {
		if _, err := run("checking sudo", "sudo -n true"); err != nil {
			return fmt.Errorf("%w\n(a non-root login needs passwordless sudo to install nd-agent)", err)
		}
	}

	// Upload next to the destination (root) or to /tmp (sudo), verify,
	// then rename into place: a running agent keeps its old inode.
	tmp := "/tmp/.nd-agent-" + randHex()
	if sudo == "" {
		if _, err := run("making "+path.Dir(o.Dest), "mkdir -p "+shellQuote(path.Dir(o.Dest))); err != nil {
			return err
		}
		tmp = path.Join(path.Dir(o.Dest), ".nd-agent-"+randHex())
	}
	fmt.Fprintf(env.Stderr, "%s: uploading %s (%s, for the host's %s)\n", h.name, bin, humanBytes(int64(len(data))), arch)
	if err := createRemote(h, tmp, 0o700, data); err != nil {
		return err
	}
	cleanup := func() { h.ssh.Run(context.WithoutCancel(ctx), sudo+"rm -f "+shellQuote(tmp)) }
	got, err := run("checksumming the upload", "sha256sum "+shellQuote(tmp))
	if err != nil {
		cleanup()
		return err
	}
	if f := strings.Fields(got); len(f) == 0 || f[0] != hex.EncodeToString(sum[:]) {
		cleanup()
		return fmt.Errorf("upload to %s:%s is corrupt (checksum %q)", h.name, tmp, got)
	}
	if _, err := run("installing "+o.Dest, sudo+"install -m 0755 -D "+shellQuote(tmp)+" "+shellQuote(o.Dest)+" && "+sudo+"rm -f "+shellQuote(tmp)); err != nil {
		cleanup()
		return err
	}

	if hasSystemd && !o.NoSystemd {
		unitTmp := "/tmp/.nd-agent-unit-" + randHex()
		if err := createRemote(h, unitTmp, 0o700, []byte(systemd.AgentUnit(o.Dest))); err != nil {
			return err
		}
		cmd := sudo + "install -m 0644 " + unitTmp + " /etc/systemd/system/nd-agent.service && rm -f " + unitTmp +
			" && " + sudo + "systemctl daemon-reload && " + sudo + "systemctl enable nd-agent.service && " +
			sudo + "systemctl restart nd-agent.service"
		if _, err := run("starting nd-agent.service", cmd); err != nil {
			return err
		}
	} else {
		if _, err := run("starting nd-agent detached", sudo+"sh -c "+shellQuote(detachedScript(o.Dest))); err != nil {
			return err
		}
	}

	w, err := waitAgent(ctx, h)
	if err != nil {
		return err
	}
	how := "systemd unit nd-agent.service"
	if !hasSystemd || o.NoSystemd {
		how = "detached (log /var/lib/nd-agent/agent.log, pid /run/nd-agent.pid)"
	}
	fmt.Fprintf(env.Stdout, "%s: nd-agent %s running at %s, %s (Nix: %v, Docker: %v)\n",
		h.name, w.NDVersion, o.Dest, how, w.Capabilities.Nix, w.Capabilities.Docker)
	return nil
}

// detachedScript stops the agent the previous detached install started (by
// its pid file, checking the pid is still nd-agent) and starts the new one
// in its own session.
func detachedScript(dest string) string {
	return `set -e
pidf=/run/nd-agent.pid
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' </proc/"$pid"/cmdline | grep -q 'nd-agent.* serve'; then
    kill "$pid"
    i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    kill -9 "$pid" 2>/dev/null || true
  fi
fi
mkdir -p /var/lib/nd-agent && chmod 700 /var/lib/nd-agent
setsid sh -c 'echo $$ > /run/nd-agent.pid; exec ` + shellQuote(dest) + ` serve >>/var/lib/nd-agent/agent.log 2>&1' </dev/null >/dev/null 2>&1 &
`
}

// waitAgent waits until the new agent answers: the old one (of any
// version, the framed protocol's included) may still be stopping.
func waitAgent(ctx context.Context, h *host) (proto.Info, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		w, err := h.agent.Info(ctx)
		if err == nil {
			return w, nil
		}
		// Connections kept alive lead to the agent that was replaced.
		h.agent.Close()
		if time.Now().After(deadline) || ctx.Err() != nil {
			return w, fmt.Errorf("nd-agent on %s did not answer after install: %w", h.name, err)
		}
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

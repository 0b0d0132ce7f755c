package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/sshconn"
)

// host is one SSH connection to a target and the agent client over it.
type host struct {
	name     string // as the user wrote it
	stateDir string // the agent's state directory, from its GET /v1/info
	ssh      *sshconn.Client
	agent    *agentclient.Client
}

func (h *host) Close() error { return h.ssh.Close() }

// connect opens the one SSH connection to target that the whole run reuses.
func connect(ctx context.Context, env *Env, f *sshFlags, target string) (*host, error) {
	opts, err := f.options(env.Log.Named("ssh"))
	if err != nil {
		return nil, err
	}
	c, err := sshconn.Dial(ctx, target, opts)
	if err != nil {
		return nil, err
	}
	d := &agentDialer{ssh: c, socket: f.AgentSocket, agentPath: f.AgentPath, log: env.Log.Named("dial")}
	d.stdio.Store(f.DialStdio)
	if u := c.SSH().User(); u != "root" {
		// The agent's socket is root-only: a non-root login reaches it via
		// sudo -n, or directly when it is in the agent's group.
		d.sudo = true
	}
	ac := agentclient.New(d, agentclient.Options{Host: target, NDVersion: Version, Log: env.Log.Named("agent")})
	return &host{name: target, ssh: c, agent: ac}, nil
}

// agentDialer opens one stream to the agent per request over the shared SSH
// connection: a direct-streamlocal channel to the agent's socket, or, where
// the server forbids stream forwarding (or the login is not root), an exec
// channel running `nd-agent dial-stdio`.
type agentDialer struct {
	ssh       *sshconn.Client
	socket    string
	agentPath string
	sudo      bool
	stdio     atomic.Bool
	log       hclog.Logger

	sudoOnce sync.Once
	sudoErr  error
}

// checkSudo finds out once whether sudo -n works for this login. Without
// it, sudo's complaint goes to the stream's stderr and the client sees only
// a closed stream.
func (d *agentDialer) checkSudo(ctx context.Context) error {
	d.sudoOnce.Do(func() {
		if _, err := d.ssh.Run(ctx, "sudo -n true"); err != nil {
			d.sudoErr = fmt.Errorf("reaching nd-agent on %s as %s: sudo -n failed: %w (a non-root login needs passwordless sudo, or membership in the group of 'nd-agent serve --group' with stream forwarding allowed)",
				d.ssh.Host(), d.ssh.SSH().User(), err)
		}
	})
	return d.sudoErr
}

func (d *agentDialer) Dial(ctx context.Context) (agentclient.Stream, error) {
	if !d.stdio.Load() {
		conn, err := d.ssh.DialUnix(ctx, d.socket)
		if err == nil {
			return conn, nil
		}
		// A non-root login may not even see the root-only socket (sshd then
		// reports it missing, not forbidden): it tries sudo -n dial-stdio.
		if !sshconn.IsForwardingRefused(err) && !d.sudo {
			return nil, fmt.Errorf("reaching nd-agent at %s on %s (is it installed and running? see 'nd-push install-agent'): %w", d.socket, d.ssh.Host(), err)
		}
		d.log.Debug("stream forwarding unavailable; using dial-stdio", "error", err)
		d.stdio.Store(true)
	}
	cmd := shellQuote(d.agentPath) + " dial-stdio --socket " + shellQuote(d.socket)
	if d.sudo {
		if err := d.checkSudo(ctx); err != nil {
			return nil, err
		}
		cmd = "sudo -n " + cmd
	}
	s, err := d.ssh.Command(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("starting %q on %s: %w", cmd, d.ssh.Host(), err)
	}
	return s, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// createRemote creates dst on h over SFTP (it must not exist yet) with mode
// set before any content arrives, so a secret is never readable by others
// even for a moment; on failure the partial file is removed. Errors name the
// file, never its content.
func createRemote(h *host, dst string, mode os.FileMode, data []byte) error {
	sc, err := h.ssh.SFTP()
	if err != nil {
		return fmt.Errorf("opening SFTP to %s: %w", h.name, err)
	}
	f, err := sc.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("creating %s on %s: %w", dst, h.name, err)
	}
	fail := func(what string, err error) error {
		f.Close()
		sc.Remove(dst)
		return fmt.Errorf("%s %s on %s: %w", what, dst, h.name, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail("chmod", err)
	}
	if _, err := f.Write(data); err != nil {
		return fail("uploading", err)
	}
	if err := f.Close(); err != nil {
		sc.Remove(dst)
		return fmt.Errorf("uploading %s to %s: %w", dst, h.name, err)
	}
	return nil
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/sshconn"
)

// sshFlags are the ssh(1)-like flags every command that reaches a host takes.
type sshFlags struct {
	ConfigFile  string
	Identities  stringList
	Port        int
	Options     stringList // -o Key=Value
	AgentSocket string
	AgentPath   string // nd-agent on the host, for dial-stdio
	DialStdio   bool
}

func (f *sshFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ConfigFile, "F", "", "ssh config `FILE` (replaces ~/.ssh/config, like ssh -F)")
	fs.Var(&f.Identities, "i", "identity `FILE` tried first (repeatable, like ssh -i)")
	fs.IntVar(&f.Port, "p", 0, "SSH `PORT` (like ssh -p)")
	fs.Var(&f.Options, "o", "ssh option `Key=Value` (repeatable, like ssh -o)")
	fs.StringVar(&f.AgentSocket, "agent-socket", "/run/nd-agent/agent.sock", "nd-agent's socket `PATH` on the host")
	fs.StringVar(&f.AgentPath, "agent-path", "nd-agent", "nd-agent `COMMAND` on the host, for dial-stdio")
	fs.BoolVar(&f.DialStdio, "dial-stdio", false, "reach the agent through `nd-agent dial-stdio` instead of stream forwarding")
}

func (f *sshFlags) options(log hclog.Logger) (sshconn.Options, error) {
	o := sshconn.Options{
		ConfigFile:    f.ConfigFile,
		IdentityFiles: f.Identities,
		Port:          f.Port,
		Logger:        log,
	}
	for _, kv := range f.Options {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, usagef("-o %q: want Key=Value", kv)
		}
		if o.Overrides == nil {
			o.Overrides = map[string]string{}
		}
		o.Overrides[k] = v
	}
	return o, nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// host is one SSH connection to a target and the agent client over it.
type host struct {
	name     string // as the user wrote it
	stateDir string // the agent's state directory, from its handshake
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

// parseInterspersed parses flags anywhere among the arguments, as users of
// ssh-like tools expect (nd-push host config.nix -b).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Options are the ssh(1) command-line equivalents nd-push passes to Dial.
// The zero value behaves like plain `ssh target`.
type Options struct {
	// ConfigFile replaces ~/.ssh/config and /etc/ssh/ssh_config, like -F.
	// "none" reads no config file.
	ConfigFile string
	// IdentityFiles are tried before any IdentityFile of the config, like -i.
	IdentityFiles []string
	// Port and User override the target and the config, like -p and -l.
	Port int
	User string
	// Overrides are ssh_config options that take precedence over the config
	// files, like -o Key=Value (e.g. "StrictHostKeyChecking": "accept-new").
	// They apply to the destination only, not to ProxyJump hops.
	Overrides map[string]string
	// HomeDir replaces $HOME for ~ and the default files (for tests).
	HomeDir string
	// Logger receives diagnostics; nil means silent.
	Logger hclog.Logger
}

// Client is one SSH connection to a host, reused for every stream, command
// and SFTP session. It is safe for concurrent use.
type Client struct {
	host   string
	conn   *ssh.Client
	parent *Client // the ProxyJump hop this connection runs through
	log    hclog.Logger

	mu   sync.Mutex
	sftp *sftp.Client

	done      chan struct{} // closed when the transport ends
	closeOnce sync.Once
	closeErr  error
}

// maxJumpDepth bounds ProxyJump recursion through the config.
const maxJumpDepth = 8

// Dial connects to target ("[user@]host[:port]", "ssh://…", or a Host alias of
// the ssh config) and authenticates, honouring the OpenSSH configuration.
// Cancelling ctx aborts a connection that is not yet established; once Dial
// returns, ctx no longer matters.
func Dial(ctx context.Context, target string, opts Options) (*Client, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	env, err := newResolveEnv(&opts)
	if err != nil {
		return nil, err
	}
	cs, err := loadConfigs(&opts, env.home)
	if err != nil {
		return nil, err
	}
	t, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	h, err := cs.resolve(t, cmdline{user: opts.User, port: opts.Port, identityFiles: opts.IdentityFiles}, env)
	if err != nil {
		return nil, err
	}
	// Jump hops see the config files but not the -o overrides, as with ssh -J.
	hopCS := cs
	if len(opts.Overrides) > 0 {
		hopCS = &configSet{files: cs.files[1:]}
	}
	d := &dialer{cs: hopCS, env: env, log: log}
	return d.dial(ctx, h, 0)
}

type dialer struct {
	cs  *configSet // for resolving jump hops
	env resolveEnv
	log hclog.Logger
}

// dial connects to h, through its ProxyJump chain if it has one.
func (d *dialer) dial(ctx context.Context, h *hostConfig, depth int) (*Client, error) {
	if depth > maxJumpDepth {
		return nil, fmt.Errorf("dialing %s: ProxyJump chain longer than %d hops (a loop in the ssh config?)", h.display(), maxJumpDepth)
	}
	if len(h.ProxyJump) == 0 {
		return d.connect(ctx, h, nil)
	}
	var prev *Client
	for i, hop := range h.ProxyJump {
		t, err := parseTarget(hop)
		if err != nil {
			closeClient(prev)
			return nil, fmt.Errorf("ProxyJump of %s: %w", h.display(), err)
		}
		hh, err := d.cs.resolve(t, cmdline{}, d.env)
		if err != nil {
			closeClient(prev)
			return nil, fmt.Errorf("ProxyJump of %s: %w", h.display(), err)
		}
		var c *Client
		if i == 0 {
			// The first hop may itself need jumps, as its own config says.
			c, err = d.dial(ctx, hh, depth+1)
		} else {
			c, err = d.connect(ctx, hh, prev)
		}
		if err != nil {
			closeClient(prev)
			return nil, fmt.Errorf("jump host for %s: %w", h.display(), err)
		}
		prev = c
	}
	c, err := d.connect(ctx, h, prev)
	if err != nil {
		closeClient(prev)
		return nil, err
	}
	return c, nil
}

func closeClient(c *Client) {
	if c != nil {
		c.Close()
	}
}

// connect opens the transport to h (directly, or through the jump client)
// and runs the SSH handshake.
func (d *dialer) connect(ctx context.Context, h *hostConfig, jump *Client) (*Client, error) {
	log := d.log.With("host", h.display())
	if h.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.ConnectTimeout)
		defer cancel()
	}
	hk, err := newHostKeyChecker(h, log)
	if err != nil {
		return nil, fmt.Errorf("ssh handshake with %s: %w", h.display(), err)
	}
	keys, err := loadKeys(h, log)
	if err != nil {
		return nil, fmt.Errorf("ssh handshake with %s: %w", h.display(), err)
	}
	defer keys.close()

	var conn net.Conn
	if jump == nil {
		log.Debug("dialing", "addr", h.addr())
		var nd net.Dialer
		conn, err = nd.DialContext(ctx, "tcp", h.addr())
	} else {
		log.Debug("dialing through jump host", "addr", h.addr(), "jump", jump.host)
		conn, err = jump.conn.DialContext(ctx, "tcp", h.addr())
	}
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", h.display(), ctxErr(ctx, h, err))
	}

	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(keys.signers...)},
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.algorithms(),
	}
	// A blocked handshake (silent server, dead jump) ends when ctx does.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, h.addr(), cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		conn.Close()
		return nil, fmt.Errorf("ssh handshake with %s: %w", h.display(), ctxErr(ctx, h, ctx.Err()))
	}
	if err != nil {
		conn.Close()
		// Drop x/crypto's "ssh: handshake failed:" where the message is ours.
		var hkErr *HostKeyError
		if errors.As(err, &hkErr) {
			err = hkErr
		} else if strings.Contains(err.Error(), "unable to authenticate") {
			err = &AuthError{User: h.User, Tried: keys.tried, Encrypted: keys.encrypted, Err: err}
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", h.display(), err)
	}
	c := &Client{
		host:   h.display(),
		conn:   ssh.NewClient(sc, chans, reqs),
		parent: jump,
		log:    log,
		done:   make(chan struct{}),
	}
	go func() {
		c.conn.Wait()
		close(c.done)
	}()
	if h.ServerAliveInterval > 0 {
		go c.keepalive(h.ServerAliveInterval, h.ServerAliveCountMax)
	}
	log.Debug("connected", "user", h.User)
	return c, nil
}

// ctxErr turns a context expiry into a message naming the ConnectTimeout.
func ctxErr(ctx context.Context, h *hostConfig, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && h.ConnectTimeout > 0 {
		return fmt.Errorf("connection timed out after %s (ConnectTimeout): %w", h.ConnectTimeout, context.DeadlineExceeded)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// keepalive sends keepalive@openssh.com every interval, as ServerAliveInterval
// does, and closes the connection after countMax unanswered ones.
func (c *Client) keepalive(interval time.Duration, countMax int) {
	if countMax < 1 {
		countMax = 1
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	reply := make(chan error, 1)
	pending := false
	for {
		select {
		case <-c.done:
			return
		case err := <-reply:
			pending = false
			if err != nil {
				return
			}
			missed = 0
		case <-t.C:
			if pending {
				missed++
				if missed >= countMax {
					c.log.Warn("server not responding; closing connection", "unanswered_keepalives", missed)
					c.Close()
					return
				}
				continue
			}
			pending = true
			go func() {
				_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
				reply <- err
			}()
		}
	}
}

// Host names the destination for messages: the alias the user typed, with
// the address when it differs (e.g. "prod (203.0.113.7:22)").
func (c *Client) Host() string { return c.host }

// SSH returns the underlying connection, for uses this package lacks.
func (c *Client) SSH() *ssh.Client { return c.conn }

// Done is closed when the connection has ended (closed, or lost and detected
// by keepalives or a failed read).
func (c *Client) Done() <-chan struct{} { return c.done }

// DialUnix opens a stream to the unix socket at path on the host
// (direct-streamlocal@openssh.com). The returned net.Conn also implements
// CloseWrite() error; it does not support deadlines.
//
// When the server will not open the stream, IsForwardingRefused(err) tells
// whether that is its policy (AllowStreamLocalForwarding no,
// DisableForwarding, a restricted key), in which case the caller can fall
// back to an exec channel, or whether nothing listens at path.
func (c *Client) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	conn, err := c.conn.DialContext(ctx, "unix", path)
	if err == nil {
		return conn, nil
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) && oce.Reason != ssh.Prohibited {
		// OpenSSH answers "connect failed" both when forwarding is disabled
		// and when nothing listens at path; ask the host which it is.
		if listening, perr := c.socketExists(ctx, path); perr == nil {
			if listening {
				err = &forwardingRefusedError{err: err}
			} else {
				err = fmt.Errorf("no unix socket at %s: %w", path, err)
			}
		} else {
			c.log.Debug("cannot tell refused forwarding from a missing socket", "error", perr)
			err = &forwardingRefusedError{err: err}
		}
	} else if errors.As(err, &oce) {
		err = &forwardingRefusedError{err: err}
	}
	return nil, fmt.Errorf("dialing unix socket %s on %s: %w", path, c.host, err)
}

// socketExists asks the host whether path is a unix socket.
func (c *Client) socketExists(ctx context.Context, path string) (bool, error) {
	_, err := c.Run(ctx, "test -S "+shellQuote(path))
	var ce *CommandError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ce) && ce.ExitStatus == 1:
		return false, nil
	default:
		return false, err
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// forwardingRefusedError marks a stream-local channel the server refused by
// policy.
type forwardingRefusedError struct{ err error }

func (e *forwardingRefusedError) Error() string {
	return "the server refused stream-local forwarding (AllowStreamLocalForwarding no?): " + e.err.Error()
}

func (e *forwardingRefusedError) Unwrap() error { return e.err }

// IsForwardingRefused reports whether err (from DialUnix) says the server
// refuses stream-local forwarding by policy, as opposed to a missing socket
// or a broken connection. Callers fall back to an exec channel then.
func IsForwardingRefused(err error) bool {
	var fr *forwardingRefusedError
	if errors.As(err, &fr) {
		return true
	}
	var oce *ssh.OpenChannelError
	return errors.As(err, &oce) && oce.Reason == ssh.Prohibited
}

// SFTP returns the connection's SFTP client, opening it on first use.
// The client is shared; do not close it, Close the Client instead.
func (c *Client) SFTP() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	s, err := sftp.NewClient(c.conn)
	if err != nil {
		return nil, fmt.Errorf("opening sftp session on %s: %w", c.host, err)
	}
	c.sftp = s
	return s, nil
}

// Close ends the connection and every stream on it, then the jump hosts'
// connections.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
		}
		c.mu.Unlock()
		c.closeErr = c.conn.Close()
		if c.parent != nil {
			c.parent.Close()
		}
	})
	if errors.Is(c.closeErr, net.ErrClosed) {
		return nil
	}
	return c.closeErr
}

// Package agentclient is nd-push's only way to talk to nd-agent: it opens
// one stream per request through a Dialer (an SSH channel in nd-push, a unix
// socket in tests), does the internal/proto handshake and turns replies and
// remote errors into Go values. It never imports SSH or Docker code.
package agentclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/proto"
)

// Stream is one bidirectional byte stream to the agent (a net.Conn or an
// SSH channel).
type Stream = io.ReadWriteCloser

// Dialer opens a fresh stream to the agent for each request: in nd-push an
// SSH direct-streamlocal channel to the agent's socket, or an exec channel
// running `nd-agent dial-stdio`.
type Dialer interface {
	Dial(ctx context.Context) (Stream, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context) (Stream, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context) (Stream, error) { return f(ctx) }

// Options configure a Client.
type Options struct {
	Host      string // how the user named the host, for messages
	NDVersion string // this nd-push's version
	Log       hclog.Logger
}

// Client talks to one agent. Safe for concurrent use: each call is its own
// stream.
type Client struct {
	d    Dialer
	opts Options
	log  hclog.Logger

	mu      sync.Mutex
	welcome *proto.Welcome
}

// New makes a Client that dials through d.
func New(d Dialer, opts Options) *Client {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Host == "" {
		opts.Host = "the host"
	}
	return &Client{d: d, opts: opts, log: opts.Log}
}

// stream is one request in flight.
type stream struct {
	s    Stream
	c    *proto.Conn
	stop func() bool
}

func (s *stream) Close() error {
	s.stop()
	return s.s.Close()
}

// open dials a stream and does the handshake.
func (cl *Client) open(ctx context.Context) (*stream, error) {
	s, err := cl.d.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to nd-agent on %s: %w", cl.opts.Host, err)
	}
	// Closing the stream is the only way to interrupt blocked reads.
	st := &stream{s: s, c: proto.NewConn(s), stop: context.AfterFunc(ctx, func() { s.Close() })}
	w, err := st.c.Handshake(cl.opts.Host, proto.Hello{Protocol: proto.Version, NDVersion: cl.opts.NDVersion, Client: "nd-push"})
	if err != nil {
		st.Close()
		return nil, cl.wrap(ctx, err)
	}
	cl.mu.Lock()
	cl.welcome = &w
	cl.mu.Unlock()
	return st, nil
}

// wrap names the host in errors and prefers the context's error when the
// stream was closed because ctx ended.
func (cl *Client) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("nd-agent on %s: %w", cl.opts.Host, ctx.Err())
	}
	var se *proto.SkewError
	if errors.As(err, &se) {
		return err
	}
	var re *proto.RemoteError
	if errors.As(err, &re) {
		return &Error{Host: cl.opts.Host, Code: re.Code, Message: re.Message}
	}
	return fmt.Errorf("nd-agent on %s: %w", cl.opts.Host, err)
}

// Error is a failure reported by the agent.
type Error struct {
	Host    string
	Code    string // a proto.Code* value
	Message string
}

func (e *Error) Error() string {
	if e.Code == proto.CodeNoDocker {
		return fmt.Sprintf("cannot reach Docker on %s: %s", e.Host, e.Message)
	}
	return fmt.Sprintf("nd-agent on %s: %s", e.Host, e.Message)
}

// IsCode reports whether err is an agent Error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// call sends one request and decodes the reply, passing progress on.
func (cl *Client) call(ctx context.Context, t proto.Type, req any, replyType proto.Type, reply any, progress func(proto.Progress)) error {
	st, err := cl.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.c.Send(t, req); err != nil {
		return cl.wrap(ctx, err)
	}
	return cl.reply(ctx, st, replyType, reply, progress)
}

func (cl *Client) reply(ctx context.Context, st *stream, replyType proto.Type, reply any, progress func(proto.Progress)) error {
	for {
		env, err := st.c.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("stream closed before the %s reply", replyType)
			}
			return cl.wrap(ctx, err)
		}
		if env.Type == proto.TypeProgress {
			var p proto.Progress
			if err := proto.Decode(env, proto.TypeProgress, &p); err != nil {
				return cl.wrap(ctx, err)
			}
			cl.log.Debug("agent progress", "stage", p.Stage, "message", p.Message)
			if progress != nil {
				progress(p)
			}
			continue
		}
		if err := proto.Decode(env, replyType, reply); err != nil {
			return cl.wrap(ctx, err)
		}
		return nil
	}
}

// Hello does a handshake only and returns the agent's versions and
// capabilities.
func (cl *Client) Hello(ctx context.Context) (proto.Welcome, error) {
	st, err := cl.open(ctx)
	if err != nil {
		return proto.Welcome{}, err
	}
	st.Close()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return *cl.welcome, nil
}

// Ping round-trips a Ping.
func (cl *Client) Ping(ctx context.Context) (proto.Pong, error) {
	var p proto.Pong
	err := cl.call(ctx, proto.TypePing, &proto.Ping{}, proto.TypePong, &p, nil)
	return p, err
}

// Status returns the deployed apps (app "" = all).
func (cl *Client) Status(ctx context.Context, app string) (proto.StatusReply, error) {
	var r proto.StatusReply
	err := cl.call(ctx, proto.TypeStatus, &proto.Status{App: app}, proto.TypeStatusReply, &r, nil)
	return r, err
}

// QueryMissing returns which of paths the host lacks, in one round trip.
// With a session, the host keeps the paths it has until the session's
// Deploy.
func (cl *Client) QueryMissing(ctx context.Context, session string, paths []string) ([]string, error) {
	r, err := cl.Missing(ctx, proto.QueryMissing{Paths: paths, Session: session})
	return r.Missing, err
}

// Missing is QueryMissing with every field of the request (q.Substitute:
// let the host substitute first) and the whole answer.
func (cl *Client) Missing(ctx context.Context, q proto.QueryMissing) (proto.Missing, error) {
	var r proto.Missing
	err := cl.call(ctx, proto.TypeQueryMissing, &q, proto.TypeMissing, &r, nil)
	return r, err
}

// Realise has the host build req.Drv (sent before with Import) and returns
// its outputs; progress receives the agent's build stage.
func (cl *Client) Realise(ctx context.Context, req proto.Realise, progress func(proto.Progress)) (proto.Realised, error) {
	var r proto.Realised
	err := cl.call(ctx, proto.TypeRealise, &req, proto.TypeRealised, &r, progress)
	return r, err
}

// ImportOptions tune Import's compression.
type ImportOptions struct {
	Session string
	Paths   int // how many store paths the stream holds
	// NarBytes is their total NAR size (0: unknown), so the agent can
	// refuse what does not fit before the transfer.
	NarBytes int64
	// Level and Concurrency of the zstd encoder; zero: DefaultLevel,
	// DefaultConcurrency.
	Level       zstd.EncoderLevel
	Concurrency int
	// Wire, if set, is called with the compressed bytes sent so far.
	Wire func(n int64)
}

// Defaults for Import, measured for 2 cores and a ~25 MB/s link (see
// internal/closure's benchmarks). On a 510 MB closure of binaries
// (`nix-store --export` ~780 MB/s from page cache, the host's
// `nix-store --import` ~250 MB/s), zstd's default level compresses 6.2x at
// ~280 MB/s with 2 goroutines: fast enough to keep the link busy (82 MB,
// ~3.3 s) with CPU to spare for the export and SSH. The fastest level
// (5.2x, ~340 MB/s, half the CPU) sends 18% more; better (7.0x) falls
// below the link's needs at ~150 MB/s on 2 cores.
var (
	DefaultLevel       = zstd.SpeedDefault
	DefaultConcurrency = 2
)

// Import sends a `nix-store --export` stream, which write produces into
// the writer it is given, zstd-compressed on one stream, and returns the
// paths the agent imported. If the agent refuses the stream, its error is
// returned (not the broken pipe that follows).
func (cl *Client) Import(ctx context.Context, opts ImportOptions, write func(w io.Writer) error) (proto.Imported, error) {
	var res proto.Imported
	st, err := cl.open(ctx)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := st.c.Send(proto.TypeImport, &proto.Import{Session: opts.Session, Compression: proto.CompressionZstd, Paths: opts.Paths, NarBytes: opts.NarBytes}); err != nil {
		return res, cl.wrap(ctx, err)
	}
	err = cl.sendCompressed(ctx, st, compression{opts.Level, opts.Concurrency, opts.Wire}, "export stream", write,
		func() error { return cl.reply(ctx, st, proto.TypeImported, &res, nil) })
	return res, err
}

// IsRemote reports whether err was reported by the agent.
func IsRemote(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Deploy asks the agent to deploy; progress (may be nil) gets its steps.
func (cl *Client) Deploy(ctx context.Context, req proto.Deploy, progress func(proto.Progress)) (proto.Deployed, error) {
	var r proto.Deployed
	err := cl.call(ctx, proto.TypeDeploy, &req, proto.TypeDeployed, &r, progress)
	return r, err
}

type countingWriter struct {
	w   io.Writer
	n   int64
	f   func(int64)
	err error // the first write error: the stream broke
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	c.n += int64(n)
	if c.f != nil {
		c.f(c.n)
	}
	return n, err
}

package agentclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/proto"
)

// compression says how a request's body is zstd-compressed; zero fields get
// DefaultLevel and DefaultConcurrency.
type compression struct {
	level zstd.EncoderLevel
	conc  int
	wire  func(n int64) // compressed bytes sent so far, if set
}

// upload makes r with what write produces, zstd-compressed after prefix, as
// its streamed body (never held whole), and decodes the reply into reply.
// The agent answers early only to refuse the body; then its error, not the
// broken pipe that follows, is returned. what names the body in errors.
func (cl *Client) upload(ctx context.Context, r request, prefix []byte, c compression, what string, write func(io.Writer) error, reply any, progress func(proto.Progress)) error {
	if _, err := cl.Info(ctx); err != nil {
		return err
	}
	if c.level == 0 {
		c.level = DefaultLevel
	}
	if c.conc <= 0 {
		c.conc = DefaultConcurrency
	}
	pr, pw := io.Pipe()
	wire := &countingWriter{w: pw, f: c.wire}
	zw, err := zstd.NewWriter(wire, zstd.WithEncoderLevel(c.level), zstd.WithEncoderConcurrency(c.conc))
	if err != nil {
		return fmt.Errorf("starting compression: %w", err)
	}
	produced := make(chan error, 1)
	go func() {
		err := func() error {
			if len(prefix) > 0 {
				if _, err := pw.Write(prefix); err != nil {
					return err
				}
			}
			if err := write(zw); err != nil {
				zw.Close()
				return err
			}
			return zw.Close()
		}()
		pw.CloseWithError(err) // nil: the body ends
		produced <- err
	}()
	r.body, r.encoding = pr, proto.CompressionZstd
	rerr := func() error {
		resp, err := cl.roundTrip(ctx, r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return cl.wrap(ctx, cl.readReply(resp, reply, progress))
	}()
	// The transport is done with the body: a producer still writing (the
	// agent answered early) fails now instead of blocking.
	pr.CloseWithError(io.ErrClosedPipe)
	werr := <-produced
	switch {
	case rerr != nil && (IsRemote(rerr) || werr == nil || wire.err != nil):
		return rerr
	case werr != nil:
		return fmt.Errorf("sending %s to %s: %w", what, cl.opts.Host, werr)
	}
	return rerr
}

type countingWriter struct {
	w   io.Writer
	n   int64
	f   func(int64)
	err error // the first write error: the body was cut
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
// the writer it is given, as one zstd-compressed request body, and returns
// the paths the agent imported. If the agent refuses the stream, its error
// is returned (not the broken pipe that follows).
func (cl *Client) Import(ctx context.Context, opts ImportOptions, write func(w io.Writer) error) (proto.Imported, error) {
	var res proto.Imported
	q := url.Values{"paths": {strconv.Itoa(opts.Paths)}}
	if opts.Session != "" {
		q.Set("session", opts.Session)
	}
	if opts.NarBytes > 0 {
		q.Set("narBytes", strconv.FormatInt(opts.NarBytes, 10))
	}
	r := request{method: http.MethodPost, path: "/v1/store/import", query: q, contentType: proto.ContentTypeExport}
	err := cl.upload(ctx, r, nil, compression{opts.Level, opts.Concurrency, opts.Wire}, "export stream", write, &res, nil)
	return res, err
}

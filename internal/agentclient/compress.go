package agentclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/countio"
	"github.com/nd-project/nd/internal/proto"
)

// compression says how a request's body is zstd-compressed; a zero level
// is chosen for the link (chooseLevel), a zero conc is DefaultConcurrency.
type compression struct {
	level zstd.EncoderLevel
	conc  int
	wire  func(n int64) // compressed bytes sent so far, if set
}

// upload makes r with what write produces, zstd-compressed after prefix, as
// its streamed body (never held whole), and decodes the reply into reply.
// It has a connection of its own, read while the body is written: the
// agent answers early only to refuse the body, and then its error, not the
// broken pipe that follows, is returned. what names the body in errors.
func (cl *Client) upload(ctx context.Context, r request, prefix []byte, c compression, what string, write func(io.Writer) error, reply any, progress func(proto.Progress)) error {
	if _, err := cl.Info(ctx); err != nil {
		return err
	}
	if c.conc <= 0 {
		c.conc = DefaultConcurrency
	}
	pr, pw := io.Pipe()
	// level 0: chosen for the link as the stream goes (zstdlevel.go).
	zw := newAdaptiveWriter(&countio.Writer{W: pw, OnWrite: c.wire}, c.conc, c.level)
	r.body, r.encoding = pr, proto.CompressionZstd
	hr, err := cl.newRequest(ctx, r)
	if err != nil {
		return cl.wrap(ctx, err)
	}
	conn, err := cl.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var local atomic.Bool // the producer failed, not the connection
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
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			local.Store(true)
		}
		pw.CloseWithError(err) // nil: the body ends
		produced <- err
	}()
	sent := make(chan error, 1)
	go func() { sent <- hr.Write(conn) }()
	got := make(chan error, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), hr)
		if err != nil {
			got <- fmt.Errorf("reading the reply: %w", err)
			return
		}
		if err := cl.checkStatus(resp, r); err != nil {
			got <- err
			return
		}
		defer resp.Body.Close()
		got <- cl.readReply(resp, reply, progress)
	}()
	var rerr error
	select {
	case rerr = <-got:
	case serr := <-sent:
		switch {
		case serr == nil: // all sent: the agent takes its time
			rerr = <-got
		case !local.Load():
			// Cut off: an agent that refused the body says why before
			// it closes.
			select {
			case rerr = <-got:
			case <-time.After(5 * time.Second):
				conn.Close()
				rerr = <-got
			}
		default:
			conn.Close()
			rerr = <-got
		}
	}
	conn.Close()
	pr.CloseWithError(io.ErrClosedPipe)
	werr := <-produced
	switch {
	case rerr != nil && (IsRemote(rerr) || werr == nil || !local.Load()):
		return cl.wrap(ctx, rerr)
	case werr != nil:
		return fmt.Errorf("sending %s to %s: %w", what, cl.opts.Host, werr)
	}
	return nil
}

// ImportOptions tune Import's compression.
type ImportOptions struct {
	Session string
	Paths   int // how many store paths the stream holds
	// NarBytes is their total NAR size (0: unknown), so the agent can
	// refuse what does not fit before the transfer.
	NarBytes int64
	// Level and Concurrency of the zstd encoder; zero: a level chosen
	// for the link as the stream goes (from DefaultLevel, see
	// zstdlevel.go), DefaultConcurrency.
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

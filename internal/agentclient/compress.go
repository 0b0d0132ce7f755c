package agentclient

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
)

// compression says how a request's data stream is zstd-compressed; zero
// fields get DefaultLevel and DefaultConcurrency.
type compression struct {
	level zstd.EncoderLevel
	conc  int
	wire  func(n int64) // compressed bytes sent so far, if set
}

// sendCompressed streams what write produces, zstd-compressed, as st's data
// while reply waits for the agent's answer. The agent answers early only to
// refuse the stream; then its error, not the broken pipe that follows, is
// returned. what names the stream in errors.
func (cl *Client) sendCompressed(ctx context.Context, st *stream, c compression, what string, write func(io.Writer) error, reply func() error) error {
	if c.level == 0 {
		c.level = DefaultLevel
	}
	if c.conc <= 0 {
		c.conc = DefaultConcurrency
	}
	dw := st.c.DataWriter()
	wire := &countingWriter{w: dw, f: c.wire}
	zw, err := zstd.NewWriter(wire, zstd.WithEncoderLevel(c.level), zstd.WithEncoderConcurrency(c.conc))
	if err != nil {
		return fmt.Errorf("starting compression: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- reply() }()
	werr := write(zw)
	if werr == nil {
		werr = zw.Close()
	} else {
		zw.Close()
	}
	if werr == nil {
		werr = dw.Close()
	}
	if werr == nil {
		return <-done
	}
	// Either our side failed (producing the stream), or the agent refused
	// the stream and closed it: then give its error a moment to arrive.
	wait := time.Duration(0)
	if wire.err != nil {
		wait = 5 * time.Second
	}
	var rerr error
	select {
	case rerr = <-done:
	case <-time.After(wait):
		st.s.Close()
		rerr = <-done
	}
	if rerr != nil && IsRemote(rerr) {
		return rerr
	}
	return fmt.Errorf("sending %s to %s: %w", what, cl.opts.Host, werr)
}

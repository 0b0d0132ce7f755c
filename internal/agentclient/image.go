package agentclient

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/proto"
)

// QueryLayers returns how many bottom layers of an image with diffIDs
// (bottom first) the host's dockerd already holds, in one round trip.
func (cl *Client) QueryLayers(ctx context.Context, diffIDs []string) (int, error) {
	var r proto.Layers
	err := cl.call(ctx, proto.TypeQueryLayers, &proto.QueryLayers{DiffIDs: diffIDs}, proto.TypeLayers, &r, nil)
	if err == nil && (r.Have < 0 || r.Have > len(diffIDs)) {
		err = fmt.Errorf("nd-agent on %s claims %d of %d layers", cl.opts.Host, r.Have, len(diffIDs))
	}
	return r.Have, err
}

// DeployImageOptions tune DeployImage's compression and report progress.
type DeployImageOptions struct {
	// Level and Concurrency of the zstd encoder; zero: DefaultLevel,
	// DefaultConcurrency.
	Level       zstd.EncoderLevel
	Concurrency int
	// Wire, if set, is called with the compressed bytes sent so far.
	Wire func(n int64)
	// Progress, if set, gets the agent's steps.
	Progress func(proto.Progress)
}

// DeployImage sends the docker-archive that write produces (leaving out the
// bottom req.Skip layers), zstd-compressed on one stream, and has the agent
// load, check and deploy it. If the agent refuses the stream, its error is
// returned (not the broken pipe that follows).
func (cl *Client) DeployImage(ctx context.Context, req proto.DeployImage, opts DeployImageOptions, write func(w io.Writer) error) (proto.Deployed, error) {
	var res proto.Deployed
	req.Compression = proto.CompressionZstd
	st, err := cl.open(ctx)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := st.c.Send(proto.TypeDeployImage, &req); err != nil {
		return res, cl.wrap(ctx, err)
	}
	level, conc := opts.Level, opts.Concurrency
	if level == 0 {
		level = DefaultLevel
	}
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	dw := st.c.DataWriter()
	wire := &countingWriter{w: dw, f: opts.Wire}
	zw, err := zstd.NewWriter(wire, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(conc))
	if err != nil {
		return res, fmt.Errorf("starting compression: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cl.reply(ctx, st, proto.TypeDeployed, &res, opts.Progress) }()
	werr := write(zw)
	if werr == nil {
		werr = zw.Close()
	} else {
		zw.Close()
	}
	if werr == nil {
		werr = dw.Close()
	}
	if werr != nil {
		// Our side failed, or the agent refused the stream and closed it:
		// then give its error a moment to arrive.
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
			return res, rerr
		}
		return res, fmt.Errorf("sending image to %s: %w", cl.opts.Host, werr)
	}
	if err := <-done; err != nil {
		return res, err
	}
	return res, nil
}

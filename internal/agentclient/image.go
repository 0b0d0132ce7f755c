package agentclient

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/proto"
)

// QueryBlobs returns which of the layer blobs named by digests the host's
// image store lacks, in one round trip.
func (cl *Client) QueryBlobs(ctx context.Context, digests []string) ([]string, error) {
	var r proto.Blobs
	err := cl.call(ctx, proto.TypeQueryBlobs, &proto.QueryBlobs{Digests: digests}, proto.TypeBlobs, &r, nil)
	if err != nil {
		return nil, err
	}
	for _, d := range r.Missing {
		if !slices.Contains(digests, d) {
			return nil, fmt.Errorf("nd-agent on %s lacks layer %q it was not asked about", cl.opts.Host, d)
		}
	}
	return r.Missing, nil
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

// DeployImage sends the layers that write produces (req.Send, one after the
// other), zstd-compressed on one stream, and has the agent store, pull and
// deploy the image. If the agent refuses the stream, its error is returned
// (not the broken pipe that follows).
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
	err = cl.sendCompressed(ctx, st, compression{opts.Level, opts.Concurrency, opts.Wire}, "image", write,
		func() error { return cl.reply(ctx, st, proto.TypeDeployed, &res, opts.Progress) })
	return res, err
}

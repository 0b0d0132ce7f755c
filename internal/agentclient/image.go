package agentclient

import (
	"context"
	"fmt"
	"io"

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
	err = cl.sendCompressed(ctx, st, compression{opts.Level, opts.Concurrency, opts.Wire}, "image", write,
		func() error { return cl.reply(ctx, st, proto.TypeDeployed, &res, opts.Progress) })
	return res, err
}

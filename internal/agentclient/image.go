package agentclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/proto"
)

// QueryBlobs returns which of the layer blobs named by digests the host's
// image store lacks, in one round trip.
func (cl *Client) QueryBlobs(ctx context.Context, digests []string) ([]string, error) {
	var r proto.Blobs
	req, err := jsonRequest(http.MethodPost, "/v1/images/blobs/query-missing", &proto.QueryBlobs{Digests: digests})
	if err != nil {
		return nil, err
	}
	if err := cl.call(ctx, req, &r, nil); err != nil {
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
	// Level and Concurrency of the zstd encoder; zero: a level chosen
	// for the link as the stream goes (from DefaultLevel, see
	// zstdlevel.go), DefaultConcurrency.
	Level       zstd.EncoderLevel
	Concurrency int
	// Wire, if set, is called with the compressed bytes sent so far.
	Wire func(n int64)
	// Progress, if set, gets the agent's steps.
	Progress func(proto.Progress)
}

// DeployImage sends req and then the layers that write produces (req.Send,
// one after the other), zstd-compressed, as one streamed request body, and
// has the agent store, pull and deploy the image. If the agent refuses the
// stream, its error is returned (not the broken pipe that follows).
func (cl *Client) DeployImage(ctx context.Context, req proto.DeployImage, opts DeployImageOptions, write func(w io.Writer) error) (proto.Deployed, error) {
	var res proto.Deployed
	line, err := json.Marshal(&req)
	if err != nil {
		return res, fmt.Errorf("encoding the request: %w", err)
	}
	r := request{method: http.MethodPost, path: appPath(req.App, "deploy-image"), contentType: proto.ContentTypeDeployImage}
	err = cl.upload(ctx, r, append(line, '\n'), compression{opts.Level, opts.Concurrency, opts.Wire}, "image", write, &res, opts.Progress)
	return res, err
}

// PrepareImage has the agent make the metadata image of a host-store
// deploy of app ahead of the deploy (see proto.PrepareImage) and returns
// dockerd's ID of it.
func (cl *Client) PrepareImage(ctx context.Context, app string, req proto.PrepareImage) (string, error) {
	var r proto.PreparedImage
	hr, err := jsonRequest(http.MethodPost, appPath(app, "prepare-image"), &req)
	if err != nil {
		return "", err
	}
	if err := cl.call(ctx, hr, &r, nil); err != nil {
		return "", err
	}
	return r.ImageID, nil
}

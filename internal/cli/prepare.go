package cli

import (
	"bytes"
	"context"
	"sync"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/proto"
)

// metadataImage is the deploy's metadata layer, built once per run from
// the local store for every host-store host's head start.
type metadataImage struct {
	once  sync.Once
	layer []byte // nil: none (no local package, or /etc too big)
}

// prepareImage gives the host a head start on the deploy's metadata image
// (proto.PrepareImage) while the closure is on its way: dockerd's pull,
// which waits for the host's disk to take what the push wrote, then leaves
// the deploy's path. wait returns once the host answered. It never fails
// the deploy: without it, the deploy pulls the image itself.
func (r *pushRun) prepareImage(ctx context.Context, h *host, session string) (wait func()) {
	layer := r.metadataLayer()
	if layer == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		id, err := h.agent.PrepareImage(ctx, r.pkg.Manifest.Name, proto.PrepareImage{
			Package: r.pkg.Path, Session: session, Manifest: r.pkg.JSON, Layer: layer,
		})
		if err != nil {
			// An agent before it, or a host whose dockerd is slow: the
			// deploy says what matters.
			r.env.Log.Debug("no head start on the image", "host", h.name, "error", err)
			return
		}
		r.env.Log.Debug("image prepared", "host", h.name, "image", id)
	}()
	return func() { <-done }
}

// metadataLayer is the package's metadata layer tar as image.Metadata
// builds it from the local store, or nil where it cannot be built (the
// package built on the hosts, a macOS laptop) or is too big to be worth it.
func (r *pushRun) metadataLayer() []byte {
	r.meta.once.Do(func() {
		if r.o.BuildOnTarget || len(r.pkg.JSON) == 0 {
			return
		}
		img, err := image.Metadata(r.pkg.Manifest, r.pkg.Path, image.Options{})
		if err != nil {
			r.env.Log.Debug("no head start on the image", "error", err)
			return
		}
		var buf bytes.Buffer
		if _, err := img.Layers[0].WriteTo(&buf); err != nil || buf.Len() > proto.MaxPrepareLayer {
			r.env.Log.Debug("no head start on the image", "error", err, "bytes", buf.Len())
			return
		}
		r.meta.layer = buf.Bytes()
	})
	return r.meta.layer
}

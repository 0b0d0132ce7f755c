package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/nd-project/nd/internal/image"
)

// parsePushRef checks `build -b --push REF` before anything is built.
func parsePushRef(ref string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, usagef("build: --push %q: %v", ref, err)
	}
	return r, nil
}

// pushToRegistry pushes img to an OCI registry as ref. go-containerregistry's
// remote asks the registry which blobs it has (and mounts or skips those),
// so a push of an update sends only its new layers. Credentials come from
// ~/.docker/config.json and its helpers, as for `docker push`.
func pushToRegistry(ctx context.Context, env *Env, img *image.Image, ref name.Reference) error {
	vi, err := img.V1()
	if err != nil {
		return err
	}
	tr := &countingTransport{rt: remote.DefaultTransport}
	err = remote.Write(ref, vi, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithTransport(tr))
	if err != nil {
		return fmt.Errorf("pushing image to %s: %w", ref, err)
	}
	digest, err := vi.Digest()
	if err != nil {
		return err
	}
	var total int64
	for _, l := range img.Layers {
		total += l.Size
	}
	fmt.Fprintf(env.Stderr, "pushed %s: %s sent of %s of layers\n", ref, humanBytes(tr.sent.Load()), humanBytes(total))
	fmt.Fprintln(env.Stdout, ref.Context().Digest(digest.String()))
	return nil
}

// countingTransport counts the request bytes sent: what the push put on
// the wire besides headers.
type countingTransport struct {
	rt   http.RoundTripper
	sent atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &countingBody{ReadCloser: req.Body, n: &t.sent}
	}
	return t.rt.RoundTrip(req)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

package image

import (
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// V1 adapts the image to go-containerregistry's v1.Image (for its remote
// package: pushing to a registry sends only the blobs it lacks). Its
// manifest is OCIManifest's, byte for byte: layers are uncompressed tars
// whose blob digest is the diffID, so the pushed image has the same manifest
// digest as the one nd-agent serves its dockerd.
func (img *Image) V1() (v1.Image, error) {
	mb, _, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(v1Core{img: img, manifest: mb})
}

type v1Core struct {
	img      *Image
	manifest []byte
}

var _ partial.CompressedImageCore = v1Core{}

func (c v1Core) RawConfigFile() ([]byte, error)      { return c.img.Config, nil }
func (c v1Core) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c v1Core) RawManifest() ([]byte, error)        { return c.manifest, nil }

func (c v1Core) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l := c.img.LayerByDigest(h.String())
	if l == nil {
		return nil, fmt.Errorf("image %s has no layer %s", c.img.ID, h)
	}
	return v1Layer{l}, nil
}

// v1Layer is a Layer as a blob: "compressed" and uncompressed are the same
// bytes.
type v1Layer struct{ l *Layer }

var (
	_ partial.CompressedLayer = v1Layer{}
	_ partial.WithDiffID      = v1Layer{}
)

func (v v1Layer) Digest() (v1.Hash, error)            { return v1.NewHash(v.l.DiffID) }
func (v v1Layer) DiffID() (v1.Hash, error)            { return v1.NewHash(v.l.DiffID) }
func (v v1Layer) Size() (int64, error)                { return v.l.Size, nil }
func (v v1Layer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }

func (v v1Layer) Compressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		_, err := v.l.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	return &pipeCloser{pr}, nil
}

// pipeCloser stops the writing goroutine when the reader is closed early.
type pipeCloser struct{ *io.PipeReader }

func (p *pipeCloser) Close() error { return p.CloseWithError(errors.New("layer reader closed")) }

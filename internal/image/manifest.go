package image

import (
	"encoding/json"
	"fmt"
	"io"
)

// Blob names one blob of an image by digest and size.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// OCIManifest returns the OCI image manifest of the image with this config
// and these layers (bottom first; uncompressed tars, so each digest is the
// layer's diffID). The same inputs give the same bytes, so nd-push and
// nd-agent derive the same manifest digest: the image's identity on Docker's
// containerd image store, where the config digest names nothing.
func OCIManifest(config []byte, layers []Blob) ([]byte, error) {
	m := ociManifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        ociDescriptor{MediaType: MediaTypeConfig, Digest: "sha256:" + digestHex(config), Size: int64(len(config))},
		Layers:        []ociDescriptor{},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, ociDescriptor{MediaType: MediaTypeLayer, Digest: l.Digest, Size: l.Size})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("making image manifest: %w", err)
	}
	return b, nil
}

// LayerBlobs lists the image's layers as blobs, bottom first.
func (img *Image) LayerBlobs() []Blob {
	out := make([]Blob, len(img.Layers))
	for i, l := range img.Layers {
		out[i] = Blob{Digest: l.DiffID, Size: l.Size}
	}
	return out
}

// Manifest is the image's OCI manifest (OCIManifest) and its digest.
func (img *Image) Manifest() ([]byte, string, error) {
	b, err := OCIManifest(img.Config, img.LayerBlobs())
	if err != nil {
		return nil, "", err
	}
	return b, "sha256:" + digestHex(b), nil
}

// LayerByDigest returns the image's layer with this digest (diffID), or nil.
func (img *Image) LayerByDigest(digest string) *Layer {
	for _, l := range img.Layers {
		if l.DiffID == digest {
			return l
		}
	}
	return nil
}

// WriteLayers writes the layers named by digests, in that order, one after
// the other to w: the data of an image-mode deploy (the agent reads each
// by its announced size and checks its digest).
func (img *Image) WriteLayers(w io.Writer, digests []string) error {
	for _, d := range digests {
		l := img.LayerByDigest(d)
		if l == nil {
			return fmt.Errorf("writing layers: image %s has no layer %s", img.ID, d)
		}
		if _, err := l.WriteTo(w); err != nil {
			return fmt.Errorf("writing layer %s: %w", d, err)
		}
	}
	return nil
}

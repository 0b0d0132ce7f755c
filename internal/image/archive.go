package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nd-project/nd/internal/countio"
)

// sink receives the files of an image archive or layout.
type sink interface {
	put(name string, size int64, write func(io.Writer) error) error
}

// tarSink writes entries into a tar stream, normalized like layers.
type tarSink struct{ tw *tar.Writer }

func (s tarSink) put(name string, size int64, write func(io.Writer) error) error {
	if err := s.tw.WriteHeader(header(name, tar.TypeReg, 0o644, size, "")); err != nil {
		return err
	}
	cw := &countio.Writer{W: s.tw}
	if err := write(cw); err != nil {
		return err
	}
	if cw.N != size {
		return fmt.Errorf("%s: wrote %d bytes, want %d", name, cw.N, size)
	}
	return nil
}

// dirSink writes files below a directory.
type dirSink struct{ dir string }

func (s dirSink) put(name string, size int64, write func(io.Writer) error) error {
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	cw := &countio.Writer{W: f}
	err = write(cw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && cw.N != size {
		err = fmt.Errorf("%s: wrote %d bytes, want %d", name, cw.N, size)
	}
	return err
}

func putBytes(s sink, name string, data []byte) error {
	return s.put(name, int64(len(data)), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func putLayer(s sink, name string, l *Layer) error {
	return s.put(name, l.Size, func(w io.Writer) error {
		_, err := l.WriteTo(w)
		return err
	})
}

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteDockerArchive streams the image as a docker-archive (what `docker load`
// reads) to w. Layers whose chain ID skip reports true are left out: docker
// load does not open the file of a layer whose chain it already holds, so the
// receiver's known chain IDs make an incremental archive. skip may be nil.
func (img *Image) WriteDockerArchive(w io.Writer, skip func(chainID string) bool) error {
	tw := tar.NewWriter(w)
	s := tarSink{tw}
	cfgName := strings.TrimPrefix(img.ID, "sha256:") + ".json"
	man := []dockerManifest{{Config: cfgName, RepoTags: []string{img.RepoTag}}}
	for _, l := range img.Layers {
		man[0].Layers = append(man[0].Layers, l.Hex()+"/layer.tar")
	}
	mb, err := json.Marshal(man)
	if err != nil {
		return err
	}
	repo, tag, _ := strings.Cut(img.RepoTag, ":")
	var top string
	if n := len(img.Layers); n > 0 {
		top = img.Layers[n-1].Hex()
	}
	rb, err := json.Marshal(map[string]map[string]string{repo: {tag: top}})
	if err != nil {
		return err
	}
	if err := putBytes(s, "manifest.json", mb); err != nil {
		return fmt.Errorf("writing docker archive: %w", err)
	}
	if err := putBytes(s, cfgName, img.Config); err != nil {
		return fmt.Errorf("writing docker archive: %w", err)
	}
	chains := img.ChainIDs()
	written := map[string]bool{}
	for i, l := range img.Layers {
		if (skip != nil && skip(chains[i])) || written[l.DiffID] {
			continue
		}
		written[l.DiffID] = true
		if err := putLayer(s, l.Hex()+"/layer.tar", l); err != nil {
			return fmt.Errorf("writing docker archive: %w", err)
		}
	}
	if err := putBytes(s, "repositories", rb); err != nil {
		return fmt.Errorf("writing docker archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing docker archive: %w", err)
	}
	return nil
}

// OCI media types.
const (
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        ociDescriptor   `json:"config"`
	Layers        []ociDescriptor `json:"layers"`
}

type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Manifests     []ociDescriptor `json:"manifests"`
}

// WriteOCILayout writes the image as an OCI image layout into dir (created if
// missing), with uncompressed layers.
func (img *Image) WriteOCILayout(dir string) error {
	if err := img.writeOCI(dirSink{dir}); err != nil {
		return fmt.Errorf("writing OCI layout to %s: %w", dir, err)
	}
	return nil
}

// WriteOCIArchive streams the OCI image layout as a tar to w.
func (img *Image) WriteOCIArchive(w io.Writer) error {
	tw := tar.NewWriter(w)
	if err := img.writeOCI(tarSink{tw}); err != nil {
		return fmt.Errorf("writing OCI archive: %w", err)
	}
	return tw.Close()
}

func (img *Image) writeOCI(s sink) error {
	mb, mdigest, err := img.Manifest()
	if err != nil {
		return err
	}
	idx := ociIndex{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []ociDescriptor{{
		MediaType:   MediaTypeManifest,
		Digest:      mdigest,
		Size:        int64(len(mb)),
		Annotations: map[string]string{"org.opencontainers.image.ref.name": img.RepoTag, "io.containerd.image.name": img.RepoTag},
	}}}
	ib, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	if err := putBytes(s, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := putBytes(s, blob(img.ID), img.Config); err != nil {
		return err
	}
	done := map[string]bool{}
	for _, l := range img.Layers {
		if done[l.DiffID] {
			continue
		}
		done[l.DiffID] = true
		if err := putLayer(s, blob(l.DiffID), l); err != nil {
			return err
		}
	}
	if err := putBytes(s, blob(mdigest), mb); err != nil {
		return err
	}
	return putBytes(s, "index.json", ib)
}

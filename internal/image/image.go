package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"

	"github.com/nd-project/nd/internal/manifest"
)

// Image is a built (not yet written) image: its config and its layers, bottom
// first. Layers are produced when written.
type Image struct {
	// Config is the image config JSON.
	Config []byte
	// ID is "sha256:<hex>" of Config: Docker's image ID.
	ID string
	// RepoTag is "nd/<app>:<short package hash>".
	RepoTag string
	// Layers, bottom first.
	Layers []*Layer
}

// FromLayers makes an image of the given layers (bottom first) with the
// config derived from the manifest. Metadata and Layered are the usual ways;
// this one is for callers with layers of their own.
func FromLayers(m *manifest.Manifest, pkg string, layers []*Layer, opts Options) (*Image, error) {
	return newImage(m, pkg, layers, opts)
}

func newImage(m *manifest.Manifest, pkg string, layers []*Layer, opts Options) (*Image, error) {
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.DiffID
	}
	cfg, err := ConfigJSON(m, pkg, diffIDs, opts)
	if err != nil {
		return nil, err
	}
	return &Image{
		Config:  cfg,
		ID:      "sha256:" + digestHex(cfg),
		RepoTag: Repository(m.Name) + ":" + ShortHash(pkg),
		Layers:  layers,
	}, nil
}

// DiffIDs lists the layers' digests, bottom first.
func (img *Image) DiffIDs() []string {
	out := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		out[i] = l.DiffID
	}
	return out
}

// ChainIDs lists the chain ID of each layer, bottom first: how Docker names a
// layer together with everything below it. A daemon that holds a chain ID
// needs neither that layer nor those below it.
func (img *Image) ChainIDs() []string { return ChainIDs(img.DiffIDs()) }

// ChainIDs computes chain IDs from diffIDs (bottom first) as the OCI spec
// defines them: chain(0) = diffID(0), chain(n) = sha256(chain(n-1) + " " + diffID(n)).
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		s := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(s[:])
	}
	return out
}

// Metadata builds the metadata-only image for host-store mode: one small
// layer (MetadataFiles) and the config from the manifest. The app's store
// paths come from the host's /nix/store, bind-mounted at run time.
func Metadata(m *manifest.Manifest, pkg string, opts Options) (*Image, error) {
	l, err := metadataLayer(opts.StoreRoot, m, opts.inClosure())
	if err != nil {
		return nil, err
	}
	return newImage(m, pkg, []*Layer{l}, opts)
}

// MetadataLayer is the layer every nd image ends with: /etc from the
// manifest, /tmp, the /nix/store mount point.
func MetadataLayer(m *manifest.Manifest) (*Layer, error) { return metadataLayer("", m, nil) }

func metadataLayer(root string, m *manifest.Manifest, allowed func(string) bool) (*Layer, error) {
	files, err := metadataFiles(root, m, allowed)
	if err != nil {
		return nil, err
	}
	l, err := FilesLayer(files)
	if err != nil {
		return nil, fmt.Errorf("building metadata layer of %s: %w", m.Name, err)
	}
	return l, nil
}

// MetadataFiles lists the metadata layer's files: /etc with the files of
// manifest.Etc copied (symlinks followed, so /etc works without the store;
// confined to the store, see etc.go), /tmp and /var/tmp 1777, /nix/store as
// an empty mount point, /root.
func MetadataFiles(m *manifest.Manifest) ([]File, error) { return metadataFiles("", m, nil) }

// metadataFiles reads etc below root; allowed (nil: any) says which store
// paths it may read from: the package's closure.
func metadataFiles(root string, m *manifest.Manifest, allowed func(string) bool) ([]File, error) {
	files := []File{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/var/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/nix", Mode: fs.ModeDir | storeDirMode},
		{Path: "/nix/store", Mode: fs.ModeDir | storeDirMode},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
	}
	if m.Etc == "" {
		return files, nil
	}
	etc, err := etcFiles(root, m.Etc, allowed)
	if err != nil {
		return nil, err
	}
	return append(files, etc...), nil
}

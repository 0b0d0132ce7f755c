package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// Bounds of image-mode requests.
const (
	// maxLayerSize bounds one announced layer; the store's disk bounds
	// the rest.
	maxLayerSize = 1 << 40
)

var digestRE = imagereg.DigestRE

// errStream marks a blob stream that does not hold what was announced.
var errStream = errors.New("malformed image stream")

// checkImageRequest checks a DeployImage before anything is read or
// stored: names, digests and sizes, the config against the image ID and
// its layer list, the layers to be sent against the image's.
func checkImageRequest(req *proto.DeployImage) error {
	if !digestRE.MatchString(req.ImageID) {
		return fmt.Errorf("bad image ID %q", req.ImageID)
	}
	repo, tag, ok := strings.Cut(req.RepoTag, ":")
	if !ok || repo != "nd/"+req.App || tag == "" || strings.ContainsAny(tag, " \t\n@/:") {
		return fmt.Errorf("bad image tag %q for app %s", req.RepoTag, req.App)
	}
	if len(req.Layers) == 0 || len(req.Layers) > proto.MaxImageLayers {
		return fmt.Errorf("image of %d layers, want 1 to %d", len(req.Layers), proto.MaxImageLayers)
	}
	sizes := map[string]int64{}
	diffIDs := make([]string, len(req.Layers))
	for i, l := range req.Layers {
		if !digestRE.MatchString(l.Digest) {
			return fmt.Errorf("bad layer digest %q", l.Digest)
		}
		if l.Size < 0 || l.Size > maxLayerSize {
			return fmt.Errorf("layer %s of %d bytes", l.Digest, l.Size)
		}
		if s, ok := sizes[l.Digest]; ok && s != l.Size {
			return fmt.Errorf("layer %s announced with two sizes", l.Digest)
		}
		sizes[l.Digest] = l.Size
		diffIDs[i] = l.Digest
	}
	sent := map[string]bool{}
	for _, d := range req.Send {
		if _, ok := sizes[d]; !ok {
			return fmt.Errorf("layer %q to be sent is not a layer of the image", d)
		}
		if sent[d] {
			return fmt.Errorf("layer %s to be sent twice", d)
		}
		sent[d] = true
	}
	if len(req.Config) == 0 || len(req.Config) > proto.MaxImageConfig {
		return fmt.Errorf("image config of %d bytes", len(req.Config))
	}
	if sum := sha256.Sum256(req.Config); "sha256:"+hex.EncodeToString(sum[:]) != req.ImageID {
		return fmt.Errorf("image config does not match image ID %s", req.ImageID)
	}
	var cfg struct {
		RootFS struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(req.Config, &cfg); err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	if cfg.RootFS.Type != "layers" || !slices.Equal(cfg.RootFS.DiffIDs, diffIDs) {
		return errors.New("image config lists other layers than announced")
	}
	return nil
}

// receiveLayers reads the announced layers from r (decompressed), each
// exactly its size, into the store, which keeps a blob only once its digest
// matched. Nothing may follow the last one.
func receiveLayers(st *imagereg.Store, r io.Reader, req *proto.DeployImage) (int64, error) {
	sizes := map[string]int64{}
	for _, l := range req.Layers {
		sizes[l.Digest] = l.Size
	}
	var n int64
	for _, d := range req.Send {
		if err := st.Put(d, sizes[d], r); err != nil {
			if errors.Is(err, imagereg.ErrDigest) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, fmt.Errorf("%w: %w", errStream, err)
			}
			return n, err
		}
		n += sizes[d]
	}
	var one [1]byte
	if k, err := io.ReadFull(r, one[:]); k > 0 {
		return n, fmt.Errorf("%w: data after the last layer", errStream)
	} else if err != io.EOF && err != io.ErrUnexpectedEOF {
		return n, err
	}
	return n, nil
}

// imageRecord lists the blobs of an image a generation runs, so the store
// keeps them (and drops those of images no kept generation runs).
type imageRecord struct {
	Config string   `json:"config"`
	Layers []string `json:"layers"`
}

var idHexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (a *Agent) imageRecordPath(app, id string) string {
	return filepath.Join(a.appsDir(), app, "images", strings.TrimPrefix(id, "sha256:")+".json")
}

func (a *Agent) saveImageRecord(app, id string, rec imageRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	p := a.imageRecordPath(app, id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("saving the blob list of image %s: %w", id, err)
	}
	if err := writeFileAtomic(p, b, 0o600); err != nil {
		return fmt.Errorf("saving the blob list of image %s: %w", id, err)
	}
	return nil
}

// collectBlobs removes the store's blobs that no kept generation of any app
// runs, and the records of images no generation runs. Blobs of deploys under
// way are pinned and stay. Failures are logged: retention is tidying.
func (a *Agent) collectBlobs() {
	if a.cfg.Images == nil {
		return
	}
	keep := map[string]bool{}
	ents, err := os.ReadDir(a.appsDir())
	if err != nil && !os.IsNotExist(err) {
		a.log.Warn("collecting image blobs: listing apps", "error", err)
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !manifest.ValidName(e.Name()) {
			continue
		}
		st, err := a.loadState(e.Name())
		if err != nil {
			a.log.Warn("collecting image blobs: keeping all", "app", e.Name(), "error", err)
			return
		}
		used := map[string]bool{}
		for _, g := range st.Generations {
			if g.ImageID != "" {
				used[strings.TrimPrefix(g.ImageID, "sha256:")] = true
			}
		}
		dir := filepath.Join(a.appsDir(), e.Name(), "images")
		recs, _ := os.ReadDir(dir)
		for _, r := range recs {
			h := strings.TrimSuffix(r.Name(), ".json")
			if !idHexRE.MatchString(h) {
				continue
			}
			if !used[h] {
				os.Remove(filepath.Join(dir, r.Name()))
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, r.Name()))
			var rec imageRecord
			if err == nil {
				err = json.NewDecoder(bytes.NewReader(b)).Decode(&rec)
			}
			if err != nil {
				a.log.Warn("collecting image blobs: keeping all", "record", r.Name(), "error", err)
				return
			}
			keep[rec.Config] = true
			for _, l := range rec.Layers {
				keep[l] = true
			}
		}
	}
	n, size, err := a.cfg.Images.Store().Collect(keep)
	if err != nil {
		a.log.Warn("collecting image blobs", "error", err)
		return
	}
	if n > 0 {
		a.log.Info("image blobs removed", "blobs", n, "bytes", size, "kept", len(keep))
	}
}

package agent

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
)

// archiveSpec is what an image-mode docker-archive must hold: the image
// nd-push announced, with the layers above the first skip ones.
type archiveSpec struct {
	ImageID string   // sha256:<hex> of the config
	RepoTag string   // nd/<app>:<tag>
	DiffIDs []string // all layers, bottom first
	Skip    int      // bottom layers left out
}

// archiveStats says what a checked archive held.
type archiveStats struct {
	Layers     int   // layer tars
	LayerBytes int64 // their bytes
}

var (
	digestRE    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	hexRE       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	errArchive  = errors.New("malformed image archive")
	maxJSONSize = int64(1 << 20)
)

func archiveErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errArchive, fmt.Sprintf(format, a...))
}

func (s archiveSpec) check() error {
	if !digestRE.MatchString(s.ImageID) {
		return fmt.Errorf("bad image ID %q", s.ImageID)
	}
	if len(s.DiffIDs) == 0 || len(s.DiffIDs) > 128 {
		return fmt.Errorf("image of %d layers", len(s.DiffIDs))
	}
	for _, d := range s.DiffIDs {
		if !digestRE.MatchString(d) {
			return fmt.Errorf("bad layer digest %q", d)
		}
	}
	if s.Skip < 0 || s.Skip > len(s.DiffIDs) {
		return fmt.Errorf("skip %d of %d layers", s.Skip, len(s.DiffIDs))
	}
	repo, tag, ok := strings.Cut(s.RepoTag, ":")
	if !ok || !strings.HasPrefix(repo, "nd/") || tag == "" || strings.ContainsAny(s.RepoTag, " \t\n@") {
		return fmt.Errorf("bad image tag %q", s.RepoTag)
	}
	return nil
}

// copyDockerArchive reads a docker-archive from r, checks it against spec
// and writes an equivalent archive (the same entries, normalized headers)
// to w as it goes. It refuses anything but the entries nd-push writes:
// manifest.json naming exactly this image, its config (whose digest must be
// the image ID and whose layers must be spec's), the layer tars above
// spec.Skip (each must hash to its name) and repositories. A layer whose
// digest is wrong is detected at its end, after its bytes went to w: the
// caller must then abort w (the receiving `docker load` sees a broken
// stream and keeps nothing).
func copyDockerArchive(r io.Reader, w io.Writer, spec archiveSpec) (archiveStats, error) {
	var st archiveStats
	if err := spec.check(); err != nil {
		return st, archiveErr("%v", err)
	}
	idHex := strings.TrimPrefix(spec.ImageID, "sha256:")
	want := map[string]bool{} // layer hex names still expected
	for _, d := range spec.DiffIDs[spec.Skip:] {
		want[strings.TrimPrefix(d, "sha256:")] = true
	}
	seen := map[string]bool{}
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, archiveErr("reading tar: %v", err)
		}
		name := h.Name
		if h.Typeflag == tar.TypeDir && (name == idHex+"/" || strings.HasSuffix(name, "/") && want[strings.TrimSuffix(name, "/")]) {
			continue // a directory of a layer: harmless, not passed on
		}
		if h.Typeflag != tar.TypeReg || path.Clean(name) != name || path.IsAbs(name) {
			return st, archiveErr("unexpected entry %q (type %q)", name, h.Typeflag)
		}
		if seen[name] {
			return st, archiveErr("entry %q twice", name)
		}
		seen[name] = true
		if h.Size < 0 {
			return st, archiveErr("entry %q has size %d", name, h.Size)
		}
		put := func(data []byte) error {
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX}); err != nil {
				return err
			}
			_, err := tw.Write(data)
			return err
		}
		readSmall := func() ([]byte, error) {
			if h.Size > maxJSONSize {
				return nil, archiveErr("entry %q of %d bytes", name, h.Size)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, archiveErr("reading %s: %v", name, err)
			}
			return b, nil
		}
		switch {
		case name == "manifest.json":
			b, err := readSmall()
			if err != nil {
				return st, err
			}
			if err := checkArchiveManifest(b, spec); err != nil {
				return st, err
			}
			if err := put(b); err != nil {
				return st, fmt.Errorf("passing on the archive: %w", err)
			}
		case name == "repositories":
			b, err := readSmall()
			if err != nil {
				return st, err
			}
			var repos map[string]map[string]string
			if err := json.Unmarshal(b, &repos); err != nil {
				return st, archiveErr("repositories: %v", err)
			}
			if err := put(b); err != nil {
				return st, fmt.Errorf("passing on the archive: %w", err)
			}
		case name == idHex+".json":
			b, err := readSmall()
			if err != nil {
				return st, err
			}
			if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != idHex {
				return st, archiveErr("image config does not match image ID %s", spec.ImageID)
			}
			var cfg struct {
				RootFS struct {
					DiffIDs []string `json:"diff_ids"`
				} `json:"rootfs"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return st, archiveErr("image config: %v", err)
			}
			if !slices.Equal(cfg.RootFS.DiffIDs, spec.DiffIDs) {
				return st, archiveErr("image config lists other layers than announced")
			}
			if err := put(b); err != nil {
				return st, fmt.Errorf("passing on the archive: %w", err)
			}
		default:
			dir, file := path.Split(name)
			dir = strings.TrimSuffix(dir, "/")
			if file != "layer.tar" || !hexRE.MatchString(dir) || !want[dir] {
				return st, archiveErr("unexpected entry %q", name)
			}
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: h.Size, Format: tar.FormatPAX}); err != nil {
				return st, fmt.Errorf("passing on the archive: %w", err)
			}
			hash := sha256.New()
			n, err := io.Copy(io.MultiWriter(tw, hash), tr)
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || n < h.Size {
					return st, archiveErr("layer %s: %v", dir, err)
				}
				return st, err
			}
			if hex.EncodeToString(hash.Sum(nil)) != dir {
				return st, archiveErr("layer %s: content does not match its digest", dir)
			}
			st.Layers++
			st.LayerBytes += n
		}
	}
	for _, n := range []string{"manifest.json", idHex + ".json"} {
		if !seen[n] {
			return st, archiveErr("no %s", n)
		}
	}
	for d := range want {
		if !seen[d+"/layer.tar"] {
			return st, archiveErr("layer sha256:%s missing", d)
		}
	}
	// Only tar padding may follow the end of the archive.
	rest, err := io.Copy(zeroChecker{}, io.LimitReader(r, 1<<20+1))
	if err != nil {
		return st, archiveErr("after the archive: %v", err)
	}
	if rest > 1<<20 {
		return st, archiveErr("data after the archive")
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("passing on the archive: %w", err)
	}
	return st, nil
}

// zeroChecker accepts only zero bytes (tar padding).
type zeroChecker struct{}

func (zeroChecker) Write(p []byte) (int, error) {
	if len(bytes.Trim(p, "\x00")) != 0 {
		return 0, errors.New("data after the archive")
	}
	return len(p), nil
}

func checkArchiveManifest(b []byte, spec archiveSpec) error {
	var man []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(b, &man); err != nil {
		return archiveErr("manifest.json: %v", err)
	}
	if len(man) != 1 {
		return archiveErr("manifest.json lists %d images, want 1", len(man))
	}
	m := man[0]
	if m.Config != strings.TrimPrefix(spec.ImageID, "sha256:")+".json" {
		return archiveErr("manifest.json names config %q, not image %s", m.Config, spec.ImageID)
	}
	if len(m.RepoTags) != 1 || m.RepoTags[0] != spec.RepoTag {
		return archiveErr("manifest.json tags %q, want %s", m.RepoTags, spec.RepoTag)
	}
	if len(m.Layers) != len(spec.DiffIDs) {
		return archiveErr("manifest.json lists %d layers, want %d", len(m.Layers), len(spec.DiffIDs))
	}
	for i, l := range m.Layers {
		if l != strings.TrimPrefix(spec.DiffIDs[i], "sha256:")+"/layer.tar" {
			return archiveErr("manifest.json layer %d is %q", i, l)
		}
	}
	return nil
}

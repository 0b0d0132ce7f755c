package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// Base is a base image for image mode (`--from BASE`): its layers go below
// the closure's, and its env, user, workdir and labels are defaults the
// manifest overrides. Its entrypoint and command are not used.
type Base struct {
	// Layers of the base, bottom first.
	Layers []*Layer
	// Env, User, WorkingDir and Labels of the base's config.
	Env        []string
	User       string
	WorkingDir string
	Labels     map[string]string
}

// ReadDockerArchive reads the base image from a docker-archive file (what
// `docker save` writes; uncompressed layers). Layer contents are read from the
// file again when written, so it must stay in place.
func ReadDockerArchive(file string) (*Base, error) {
	fail := func(err error) (*Base, error) {
		return nil, fmt.Errorf("reading base image %s: %w", file, err)
	}
	var man []dockerManifest
	if err := readArchiveJSON(file, "manifest.json", &man); err != nil {
		return fail(err)
	}
	if len(man) != 1 {
		return fail(fmt.Errorf("archive holds %d images, want 1", len(man)))
	}
	var cfg struct {
		Config struct {
			Env        []string
			User       string
			WorkingDir string
			Labels     map[string]string
		} `json:"config"`
		RootFS rootFS `json:"rootfs"`
	}
	if err := readArchiveJSON(file, man[0].Config, &cfg); err != nil {
		return fail(err)
	}
	if len(cfg.RootFS.DiffIDs) != len(man[0].Layers) {
		return fail(fmt.Errorf("config lists %d layers, manifest %d", len(cfg.RootFS.DiffIDs), len(man[0].Layers)))
	}
	sizes, err := archiveSizes(file)
	if err != nil {
		return fail(err)
	}
	b := &Base{Env: cfg.Config.Env, User: cfg.Config.User, WorkingDir: cfg.Config.WorkingDir, Labels: cfg.Config.Labels}
	for i, name := range man[0].Layers {
		name := path.Clean(name)
		size, ok := sizes[name]
		if !ok {
			return fail(fmt.Errorf("layer %s missing", name))
		}
		b.Layers = append(b.Layers, &Layer{
			DiffID: cfg.RootFS.DiffIDs[i],
			Size:   size,
			raw: func(w io.Writer) error {
				return withArchiveEntry(file, name, func(r io.Reader) error {
					_, err := io.Copy(w, r)
					return err
				})
			},
		})
	}
	return b, nil
}

// withArchiveEntry calls fn with the content of entry name of a tar file.
func withArchiveEntry(file, name string, fn func(io.Reader) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s: no entry %s", file, name)
		}
		if err != nil {
			return err
		}
		if path.Clean(h.Name) == name && h.Typeflag == tar.TypeReg {
			return fn(tr)
		}
	}
}

func readArchiveJSON(file, name string, v any) error {
	return withArchiveEntry(file, path.Clean(name), func(r io.Reader) error {
		if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(v); err != nil {
			return fmt.Errorf("decoding %s: %w", name, err)
		}
		return nil
	})
}

func archiveSizes(file string) (map[string]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sizes := map[string]int64{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return sizes, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			sizes[path.Clean(h.Name)] = h.Size
		}
	}
}

// mergeEnv overlays env (sorted "K=V") on the base's entries: the result is
// sorted, one entry per key.
func mergeEnv(base, env []string) []string {
	vals := map[string]string{}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	out := make([]string, 0, len(vals))
	for k, v := range vals {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

package agent

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
)

// testImage is a small real image (three synthesized layers) and its
// docker-archive without the bottom skip layers.
func testImage(t testing.TB, skip int) (archiveSpec, []byte) {
	t.Helper()
	var layers []*image.Layer
	for _, f := range []string{"/a", "/b", "/c"} {
		l, err := image.FilesLayer([]image.File{{Path: f, Mode: 0o644, Data: []byte("content of " + f)}})
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	m := &manifest.Manifest{Version: 1, Name: "arch", Entrypoint: []string{"/a"}}
	img, err := image.FromLayers(m, "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nd-arch", layers, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := img.WriteDockerArchive(&buf, img.SkipBottom(skip)); err != nil {
		t.Fatal(err)
	}
	return archiveSpec{ImageID: img.ID, RepoTag: img.RepoTag, DiffIDs: img.DiffIDs(), Skip: skip}, buf.Bytes()
}

// rewrite copies a docker-archive, letting edit change each entry (return
// false to drop it).
func rewrite(t testing.TB, data []byte, edit func(h *tar.Header, b []byte) ([]byte, bool)) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		b, keep := edit(h, b)
		if !keep {
			continue
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	return out.Bytes()
}

func TestCopyDockerArchive(t *testing.T) {
	spec, data := testImage(t, 1)
	var out bytes.Buffer
	st, err := copyDockerArchive(bytes.NewReader(data), &out, spec)
	if err != nil {
		t.Fatalf("a valid archive: %v", err)
	}
	if st.Layers != 2 {
		t.Errorf("%d layers passed on, want 2", st.Layers)
	}
	// What is passed on is valid again.
	if _, err := copyDockerArchive(bytes.NewReader(out.Bytes()), io.Discard, spec); err != nil {
		t.Errorf("the passed-on archive: %v", err)
	}
	lastLayer := strings.TrimPrefix(spec.DiffIDs[2], "sha256:") + "/layer.tar"
	_, full := testImage(t, 0)
	for _, tc := range []struct {
		name string
		data []byte
		spec func(s archiveSpec) archiveSpec
		want string
	}{
		{"truncated", data[:len(data)/2], nil, "unexpected EOF"},
		{"empty", nil, nil, "no manifest.json"},
		{"not a tar", []byte(strings.Repeat("garbage!", 200)), nil, "reading tar"},
		{"layer corrupted", rewrite(t, data, func(h *tar.Header, b []byte) ([]byte, bool) {
			if h.Name == lastLayer {
				b[len(b)/2] ^= 1
			}
			return b, true
		}), nil, "does not match its digest"},
		{"layer missing", rewrite(t, data, func(h *tar.Header, b []byte) ([]byte, bool) { return b, h.Name != lastLayer }), nil, "missing"},
		{"skipped layer sent", full, nil, "unexpected entry"},
		{"other image", data, func(s archiveSpec) archiveSpec { s.ImageID = "sha256:" + strings.Repeat("1", 64); return s }, "names config"},
		{"other tag", data, func(s archiveSpec) archiveSpec { s.RepoTag = "nd/other:x"; return s }, "tags"},
		{"config edited", rewrite(t, data, func(h *tar.Header, b []byte) ([]byte, bool) {
			if strings.HasSuffix(h.Name, ".json") && h.Name != "manifest.json" {
				b = bytes.Replace(b, []byte(`"arch"`), []byte(`"evil"`), 1)
			}
			return b, true
		}), nil, "does not match image ID"},
		{"extra entry", rewrite(t, data, func(h *tar.Header, b []byte) ([]byte, bool) {
			if h.Name == "repositories" {
				h.Name = "../../etc/passwd"
			}
			return b, true
		}), nil, "unexpected entry"},
		{"symlink", rewrite(t, data, func(h *tar.Header, b []byte) ([]byte, bool) {
			if h.Name == "repositories" {
				h.Typeflag, h.Linkname = tar.TypeSymlink, "/etc/passwd"
				return nil, true
			}
			return b, true
		}), nil, "unexpected entry"},
		{"trailing data", append(append([]byte{}, data...), []byte("more")...), nil, "after the archive"},
		{"bad skip", data, func(s archiveSpec) archiveSpec { s.Skip = 9; return s }, "skip"},
	} {
		s := spec
		if tc.spec != nil {
			s = tc.spec(s)
		}
		_, err := copyDockerArchive(bytes.NewReader(tc.data), io.Discard, s)
		if err == nil || !errors.Is(err, errArchive) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: copyDockerArchive = %v, want a malformed-archive error mentioning %q", tc.name, err, tc.want)
		}
	}
}

// FuzzCopyDockerArchive: no input makes the checker panic or pass on an
// archive that does not check out again.
func FuzzCopyDockerArchive(f *testing.F) {
	spec, data := testImage(f, 1)
	f.Add(data)
	f.Add(data[:len(data)/3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if _, err := copyDockerArchive(bytes.NewReader(in), &out, spec); err != nil {
			return
		}
		if _, err := copyDockerArchive(bytes.NewReader(out.Bytes()), io.Discard, spec); err != nil {
			t.Fatalf("accepted an archive whose copy is refused: %v", err)
		}
	})
}

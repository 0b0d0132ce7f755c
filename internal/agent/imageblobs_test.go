package agent

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// testImage is a two-layer image and the DeployImage that sends both.
func testImage(t testing.TB) (*image.Image, proto.DeployImage, []byte) {
	t.Helper()
	var layers []*image.Layer
	for _, c := range []string{"bottom", "top"} {
		l, err := image.FilesLayer([]image.File{{Path: "/" + c, Mode: 0o644, Data: []byte(strings.Repeat(c, 1000))}})
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	m := &manifest.Manifest{Version: 1, Name: "blobs", Entrypoint: []string{"/a"}}
	img, err := image.FromLayers(m, "/nix/store/00000000000000000000000000000000-nd-blobs", layers, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := proto.DeployImage{App: "blobs", Package: "/nix/store/00000000000000000000000000000000-nd-blobs",
		ImageID: img.ID, RepoTag: img.RepoTag, Config: img.Config, Send: img.DiffIDs()}
	for _, l := range img.Layers {
		req.Layers = append(req.Layers, proto.Blob{Digest: l.DiffID, Size: l.Size})
	}
	var data bytes.Buffer
	if err := img.WriteLayers(&data, req.Send); err != nil {
		t.Fatal(err)
	}
	return img, req, data.Bytes()
}

func TestCheckImageRequest(t *testing.T) {
	_, req, _ := testImage(t)
	if err := checkImageRequest(&req); err != nil {
		t.Fatalf("checkImageRequest(valid) = %v", err)
	}
	zero := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		edit func(r *proto.DeployImage)
		want string
	}{
		{"bad image ID", func(r *proto.DeployImage) { r.ImageID = "sha256:xyz" }, "bad image ID"},
		{"other config", func(r *proto.DeployImage) { r.ImageID = zero }, "does not match image ID"},
		{"tag of another app", func(r *proto.DeployImage) { r.RepoTag = "nd/other:1" }, "bad image tag"},
		{"no layers", func(r *proto.DeployImage) { r.Layers = nil }, "0 layers"},
		{"negative size", func(r *proto.DeployImage) { r.Layers[0].Size = -1 }, "bytes"},
		{"layer list differs", func(r *proto.DeployImage) { r.Layers, r.Send = r.Layers[:1], r.Send[:1] }, "other layers than announced"},
		{"sent layer not in image", func(r *proto.DeployImage) { r.Send = []string{zero} }, "not a layer of the image"},
		{"sent twice", func(r *proto.DeployImage) { r.Send = []string{r.Send[0], r.Send[0]} }, "twice"},
	} {
		r := req
		r.Layers = append([]proto.Blob(nil), req.Layers...)
		tc.edit(&r)
		if err := checkImageRequest(&r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: checkImageRequest = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestReceiveLayers(t *testing.T) {
	_, req, data := testImage(t)
	for _, tc := range []struct {
		name   string
		data   []byte
		stream bool // a malformed stream (errStream), not another failure
		kept   int  // blobs in the store afterwards
	}{
		{"intact", data, false, 2},
		{"flipped byte in the top layer", flip(data, len(data)-10), true, 1},
		{"cut", data[:len(data)-10], true, 1},
		{"trailing data", append(bytes.Clone(data), 0), true, 2},
	} {
		st, err := imagereg.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		_, err = receiveLayers(st, bytes.NewReader(tc.data), &req)
		if (err == nil) == tc.stream || (tc.stream && !errors.Is(err, errStream)) {
			t.Errorf("%s: receiveLayers = %v, want malformed %v", tc.name, err, tc.stream)
		}
		if n := len(req.Send) - len(st.Missing(req.Send)); n != tc.kept {
			t.Errorf("%s: %d blobs kept, want %d", tc.name, n, tc.kept)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

func FuzzReceiveLayers(f *testing.F) {
	_, req, data := testImage(f)
	f.Add(data)
	f.Add(data[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := imagereg.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		n, err := receiveLayers(st, bytes.NewReader(b), &req)
		if err == nil && !bytes.Equal(b, data) {
			t.Fatalf("receiveLayers accepted %d bytes that are not the layers", len(b))
		}
		if err == nil && n != int64(len(data)) {
			t.Fatalf("receiveLayers = %d bytes, want %d", n, len(data))
		}
	})
}

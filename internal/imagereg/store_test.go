package imagereg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestPutChecksDigestAndSize(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("layer bytes")
	d := digestOf(data)
	for _, tc := range []struct {
		name string
		size int64
		in   []byte
		want error
	}{
		{"wrong content", int64(len(data)), []byte("LAYER bytes"), ErrDigest},
		{"short", int64(len(data)), data[:4], io.ErrUnexpectedEOF},
	} {
		if err := st.Put(d, tc.size, bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Put = %v, want %v", tc.name, err, tc.want)
		}
		if m := st.Missing([]string{d}); len(m) != 1 {
			t.Errorf("%s: the blob is kept", tc.name)
		}
	}
	// Exactly size bytes are read: what follows is the next blob's.
	r := bytes.NewReader(append(bytes.Clone(data), "next"...))
	if err := st.Put(d, int64(len(data)), r); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "next" {
		t.Errorf("Put read past its blob: %q left", rest)
	}
	if m := st.Missing([]string{d, d}); len(m) != 0 {
		t.Errorf("Missing = %v after Put", m)
	}
	ents, _ := os.ReadDir(st.Dir() + "/sha256")
	if len(ents) != 1 {
		t.Errorf("store holds %d files, want 1 (no temporary files left)", len(ents))
	}
}

func TestCollectKeepsPinnedAndKept(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, s := range []string{"kept", "pinned", "dropped"} {
		d, err := st.PutBytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	unpin := st.Pin(ds[1:2])
	n, _, err := st.Collect(map[string]bool{ds[0]: true})
	if err != nil || n != 1 {
		t.Fatalf("Collect = %d, %v; want 1 removed", n, err)
	}
	if m := st.Missing(ds); len(m) != 1 || m[0] != ds[2] {
		t.Errorf("after Collect missing %v, want only %s", m, ds[2])
	}
	unpin()
	if n, _, _ := st.Collect(nil); n != 2 {
		t.Errorf("Collect after unpin removed %d, want 2", n)
	}
}

func TestRegistryServesReadOnly(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := st.Serve()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	blob := []byte("a blob")
	d, err := st.PutBytes(blob)
	if err != nil {
		t.Fatal(err)
	}
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d + `","size":6},"layers":[]}`)
	ref, err := reg.PutManifest("nd/app", man, "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	if want := reg.Addr() + "/nd/app@" + digestOf(man); ref != want {
		t.Errorf("PutManifest = %s, want %s", ref, want)
	}
	base := "http://" + reg.Addr() + "/v2/nd/app/"
	for _, tc := range []struct{ path, want string }{{"blobs/" + d, string(blob)}, {"manifests/" + digestOf(man), string(man)}} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != tc.want {
			t.Errorf("GET %s = %d %q, want %q", tc.path, resp.StatusCode, b, tc.want)
		}
	}
	for _, path := range []string{"blobs/uploads/", "manifests/latest"} {
		method := http.MethodPost
		if strings.HasPrefix(path, "manifests") {
			method = http.MethodPut
		}
		req, _ := http.NewRequest(method, base+path, strings.NewReader(string(man)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d, want 405 (read-only)", method, path, resp.StatusCode)
		}
	}
}

func TestHoldServesFromMemory(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("metadata layer")
	d, release := st.Hold(data)
	if d != digestOf(data) {
		t.Fatalf("Hold = %s, want %s", d, digestOf(data))
	}
	rc, err := st.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != string(data) {
		t.Errorf("Open = %q", got)
	}
	if ents, _ := os.ReadDir(st.Dir() + "/sha256"); len(ents) != 0 {
		t.Errorf("a held blob was written to disk: %v", ents)
	}
	release()
	if m := st.Missing([]string{d}); len(m) != 1 {
		t.Errorf("the blob is still served after release")
	}
}

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/testutil"
)

// storeFixture adds a directory with a regular file, an executable, a
// subdirectory and a symlink to the real store.
func storeFixture(t *testing.T, name string) string {
	t.Helper()
	testutil.RequireCommands(t, "nix-store")
	dir := filepath.Join(t.TempDir(), name)
	must(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "share/doc"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "bin/tool"), []byte("#!/bin/sh\necho "+name+"\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "share/doc/README"), []byte("docs of "+name), 0o644))
	must(t, os.Symlink("../share/doc/README", filepath.Join(dir, "bin/readme")))
	out, err := exec.Command("nix-store", "--add", dir).Output()
	if err != nil {
		t.Fatalf("nix-store --add: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func layerBytes(t *testing.T, l *Layer) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := l.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type entry struct {
	Name string
	Type byte
	Mode int64
	Link string
	Data string
}

func readTar(t *testing.T, data []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(Epoch) {
			t.Errorf("%s: uid %d gid %d %q %q mtime %v, want root and %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, Epoch)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{h.Name, h.Typeflag, h.Mode, h.Linkname, string(b)})
	}
}

func TestStoreLayer(t *testing.T) {
	p := storeFixture(t, "fixture-a")
	l1, err := StoreLayer([]string{p})
	must(t, err)
	l2, err := StoreLayer([]string{p})
	must(t, err)
	b1, b2 := layerBytes(t, l1), layerBytes(t, l2)
	if !bytes.Equal(b1, b2) || l1.DiffID != l2.DiffID {
		t.Fatalf("two builds of the same layer differ: %s vs %s", l1.DiffID, l2.DiffID)
	}
	if sum := sha256.Sum256(b1); "sha256:"+hex.EncodeToString(sum[:]) != l1.DiffID || int64(len(b1)) != l1.Size {
		t.Errorf("DiffID/Size %s/%d do not match the bytes", l1.DiffID, l1.Size)
	}
	n := strings.TrimPrefix(p, "/")
	want := []entry{
		{"nix/", tar.TypeDir, 0o755, "", ""},
		{"nix/store/", tar.TypeDir, 0o755, "", ""},
		{n + "/", tar.TypeDir, 0o555, "", ""},
		{n + "/bin/", tar.TypeDir, 0o555, "", ""},
		{n + "/bin/readme", tar.TypeSymlink, 0o777, "../share/doc/README", ""},
		{n + "/bin/tool", tar.TypeReg, 0o555, "", "#!/bin/sh\necho fixture-a\n"},
		{n + "/share/", tar.TypeDir, 0o555, "", ""},
		{n + "/share/doc/", tar.TypeDir, 0o555, "", ""},
		{n + "/share/doc/README", tar.TypeReg, 0o444, "", "docs of fixture-a"},
	}
	if diff := cmp.Diff(want, readTar(t, b1)); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	// The same path read from a store kept below a root gives the same layer.
	root := t.TempDir()
	must(t, os.MkdirAll(root+"/nix/store", 0o755))
	if out, err := exec.Command("cp", "-a", p, root+"/nix/store/").CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	lr, err := storeLayer(root, nil, []string{p})
	must(t, err)
	if lr.DiffID != l1.DiffID {
		t.Errorf("layer from a store root %s = %s, want %s", root, lr.DiffID, l1.DiffID)
	}
	// A cached digest is used, and a wrong one is caught when writing.
	cache := DirCache(t.TempDir())
	lc, err := storeLayer("", cache, []string{p})
	must(t, err)
	if lc.DiffID != l1.DiffID {
		t.Fatalf("first cached build %s, want %s", lc.DiffID, l1.DiffID)
	}
	if id, size, ok := cache.Get(cacheKey([]string{p})); !ok || id != l1.DiffID || size != l1.Size {
		t.Fatalf("cache holds %s %d %v", id, size, ok)
	}
	cache.Put(cacheKey([]string{p}), "sha256:"+strings.Repeat("0", 64), l1.Size)
	lc, err = storeLayer("", cache, []string{p})
	must(t, err)
	if _, err := lc.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("WriteTo with a wrong cached digest: %v, want an error", err)
	}
	if _, err := StoreLayer([]string{"/etc"}); err == nil {
		t.Errorf("StoreLayer(/etc) succeeded, want an error")
	}
}

func TestMetadataFilesLayer(t *testing.T) {
	etc := storeFixture(t, "etc")
	m := &manifest.Manifest{Version: 1, Name: "app", Entrypoint: []string{"/x"}, Etc: etc}
	l, err := MetadataLayer(m)
	must(t, err)
	got := map[string]entry{}
	for _, e := range readTar(t, layerBytes(t, l)) {
		got[e.Name] = e
	}
	for name, want := range map[string]entry{
		"tmp/":                 {"tmp/", tar.TypeDir, 0o1777, "", ""},
		"nix/store/":           {"nix/store/", tar.TypeDir, 0o755, "", ""},
		"etc/bin/tool":         {"etc/bin/tool", tar.TypeReg, 0o755, "", "#!/bin/sh\necho etc\n"},
		"etc/bin/readme":       {"etc/bin/readme", tar.TypeReg, 0o644, "", "docs of etc"}, // symlink copied
		"etc/share/doc/":       {"etc/share/doc/", tar.TypeDir, 0o755, "", ""},
		"etc/share/doc/README": {"etc/share/doc/README", tar.TypeReg, 0o644, "", "docs of etc"},
	} {
		if diff := cmp.Diff(want, got[name]); diff != "" {
			t.Errorf("entry %s (-want +got):\n%s", name, diff)
		}
	}
}

func TestFilesLayerRejects(t *testing.T) {
	for _, files := range [][]File{
		{{Path: "relative", Mode: 0o644}},
		{{Path: "/a", Mode: 0o644}, {Path: "/a", Mode: 0o644}},
		{{Path: "/a", Mode: 0o644}, {Path: "/a/b", Mode: 0o644}},
	} {
		if _, err := FilesLayer(files); err == nil {
			t.Errorf("FilesLayer(%v) succeeded, want an error", files)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	base := func() *manifest.Manifest {
		return &manifest.Manifest{Version: 1, Name: "web", Entrypoint: []string{"/nix/store/x-init/bin/nd-init", "/nix/store/y-procs"},
			Init: "/nix/store/x-init", Env: map[string]string{"B": "2", "A": "1"}, User: "nobody", WorkDir: "/srv",
			Ports:  []manifest.Port{{Host: 80, Container: 8080}, {Host: 53, Container: 53, Protocol: "udp"}},
			Labels: map[string]string{"team": "x", LabelApp: "spoofed"}, StopGracePeriod: 5}
	}
	type cfg struct {
		Config  containerConfig `json:"config"`
		RootFS  rootFS          `json:"rootfs"`
		Created string          `json:"created"`
	}
	tests := []struct {
		name   string
		edit   func(*manifest.Manifest)
		health *HealthConfig
		env    []string
	}{
		{"plain", func(*manifest.Manifest) {}, nil, []string{"A=1", "B=2", "PATH=" + DefaultPath}},
		{"own PATH", func(m *manifest.Manifest) { m.Env["PATH"] = "/bin" }, nil, []string{"A=1", "B=2", "PATH=/bin"}},
		{"http probe", func(m *manifest.Manifest) {
			m.Healthcheck = &manifest.Healthcheck{HTTP: &manifest.HTTPProbe{Port: 8080}, Interval: 2, Retries: 3}
		}, &HealthConfig{Test: []string{"CMD", "/nix/store/x-init/bin/nd-init", "probe-http", "8080", "/"}, Interval: 2e9, Retries: 3},
			[]string{"A=1", "B=2", "PATH=" + DefaultPath}},
		{"command probe", func(m *manifest.Manifest) {
			m.Healthcheck = &manifest.Healthcheck{Command: []string{"/bin/check", "-x"}, Timeout: 1, StartPeriod: 10}
		}, &HealthConfig{Test: []string{"CMD", "/bin/check", "-x"}, Timeout: 1e9, StartPeriod: 10e9},
			[]string{"A=1", "B=2", "PATH=" + DefaultPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.edit(m)
			b, err := ConfigJSON(m, "/nix/store/zzz-pkg", []string{"sha256:aa"}, Options{Architecture: "amd64"})
			must(t, err)
			b2, _ := ConfigJSON(m, "/nix/store/zzz-pkg", []string{"sha256:aa"}, Options{Architecture: "amd64"})
			if !bytes.Equal(b, b2) {
				t.Errorf("ConfigJSON not stable")
			}
			var c cfg
			must(t, json.Unmarshal(b, &c))
			want := containerConfig{
				User: "nobody", WorkingDir: "/srv", Env: tt.env, Entrypoint: m.Entrypoint, StopSignal: "SIGTERM",
				ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
				Labels:       map[string]string{"team": "x", LabelApp: "web", LabelPackage: "/nix/store/zzz-pkg"},
				Healthcheck:  tt.health,
			}
			if diff := cmp.Diff(want, c.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if c.Created != Created || c.RootFS.Type != "layers" || len(c.RootFS.DiffIDs) != 1 {
				t.Errorf("created %q rootfs %+v", c.Created, c.RootFS)
			}
		})
	}
}

func TestDockerArchiveReproducible(t *testing.T) {
	etc := storeFixture(t, "etc")
	m := &manifest.Manifest{Version: 1, Name: "app", Entrypoint: []string{"/x"}, Etc: etc}
	pkg := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg"
	var archives [2]bytes.Buffer
	var ids [2]string
	for i := range archives {
		img, err := Metadata(m, pkg, Options{Architecture: "amd64"})
		must(t, err)
		must(t, img.WriteDockerArchive(&archives[i], nil))
		ids[i] = img.ID
		if img.RepoTag != "nd/app:0123456789ab" {
			t.Errorf("RepoTag = %q", img.RepoTag)
		}
	}
	if ids[0] != ids[1] || !bytes.Equal(archives[0].Bytes(), archives[1].Bytes()) {
		t.Fatalf("two builds differ: %s %s", ids[0], ids[1])
	}
	files := map[string]string{}
	for _, e := range readTar(t, archives[0].Bytes()) {
		files[e.Name] = e.Data
	}
	var man []dockerManifest
	must(t, json.Unmarshal([]byte(files["manifest.json"]), &man))
	if len(man) != 1 || man[0].RepoTags[0] != "nd/app:0123456789ab" || len(man[0].Layers) != 1 {
		t.Fatalf("manifest.json = %+v", man)
	}
	cfg := files[man[0].Config]
	if sum := sha256.Sum256([]byte(cfg)); "sha256:"+hex.EncodeToString(sum[:]) != ids[0] {
		t.Errorf("config file does not hash to the image ID")
	}
	layer := files[man[0].Layers[0]]
	if sum := sha256.Sum256([]byte(layer)); !strings.Contains(cfg, hex.EncodeToString(sum[:])) {
		t.Errorf("layer digest not in the config's diff_ids")
	}
}

func TestOCILayout(t *testing.T) {
	m := &manifest.Manifest{Version: 1, Name: "app", Entrypoint: []string{"/x"}}
	img, err := Metadata(m, "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg", Options{})
	must(t, err)
	dir := t.TempDir()
	must(t, img.WriteOCILayout(dir))
	var idx ociIndex
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != img.RepoTag {
		t.Fatalf("index.json = %+v", idx)
	}
	var om ociManifest
	mpath := blobPath(t, dir, idx.Manifests[0].Digest)
	readJSON(t, mpath, &om)
	if om.Config.Digest != img.ID || len(om.Layers) != 1 || om.Layers[0].Digest != img.Layers[0].DiffID {
		t.Errorf("manifest = %+v", om)
	}
	blobPath(t, dir, om.Config.Digest)
	blobPath(t, dir, om.Layers[0].Digest)
	var tarred bytes.Buffer
	must(t, img.WriteOCIArchive(&tarred))
	if n := len(readTar(t, tarred.Bytes())); n != 5 {
		t.Errorf("OCI archive has %d files, want 5", n)
	}
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	must(t, json.Unmarshal(b, v))
}

// blobPath checks a blob exists and matches its digest.
func blobPath(t *testing.T, dir, digest string) string {
	t.Helper()
	p := filepath.Join(dir, "blobs/sha256", strings.TrimPrefix(digest, "sha256:"))
	b, err := os.ReadFile(p)
	must(t, err)
	if sum := sha256.Sum256(b); "sha256:"+hex.EncodeToString(sum[:]) != digest {
		t.Errorf("blob %s does not match its digest", digest)
	}
	return p
}

func TestChainIDs(t *testing.T) {
	got := ChainIDs([]string{"sha256:a", "sha256:b"})
	sum := sha256.Sum256([]byte("sha256:a sha256:b"))
	want := []string{"sha256:a", "sha256:" + hex.EncodeToString(sum[:])}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ChainIDs (-want +got):\n%s", diff)
	}
}

func TestQueryClosure(t *testing.T) {
	p := storeFixture(t, "fixture-q")
	c, err := QueryClosure(context.Background(), &nixstore.Store{}, p)
	must(t, err)
	if len(c) != 1 || c[p].NarSize <= 0 {
		t.Errorf("QueryClosure(%s) = %+v", p, c)
	}
}

func fakePath(i int, name string) string {
	return fmt.Sprintf("/nix/store/%032d-%s", i, name)
}

func TestRepository(t *testing.T) {
	for _, tt := range []struct{ app, want string }{
		{"web", "nd/web"},
		{"my-app_2.x", "nd/my-app_2.x"},
		{"web.", "nd/app-" + digestHex([]byte("web."))[:16]},
		{"a._b", "nd/app-" + digestHex([]byte("a._b"))[:16]},
	} {
		if got := Repository(tt.app); got != tt.want {
			t.Errorf("Repository(%q) = %q, want %q", tt.app, got, tt.want)
		}
	}
}

// TestLongNames checks names past USTAR's limits (PAX records) stay
// reproducible and intact.
func TestLongNames(t *testing.T) {
	testutil.RequireCommands(t, "nix-store")
	dir := filepath.Join(t.TempDir(), "long")
	deep := filepath.Join(dir, strings.Repeat("d", 90), strings.Repeat("e", 90))
	must(t, os.MkdirAll(deep, 0o755))
	long := strings.Repeat("f", 200)
	must(t, os.WriteFile(filepath.Join(deep, long), []byte("x"), 0o644))
	must(t, os.Symlink(strings.Repeat("../", 60)+long, filepath.Join(dir, "link")))
	out, err := exec.Command("nix-store", "--add", dir).Output()
	must(t, err)
	p := strings.TrimSpace(string(out))
	l1, err := StoreLayer([]string{p})
	must(t, err)
	l2, err := StoreLayer([]string{p})
	must(t, err)
	b1, b2 := layerBytes(t, l1), layerBytes(t, l2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("layers with long names differ between builds")
	}
	var names []string
	for _, e := range readTar(t, b1) {
		names = append(names, e.Name)
	}
	want := strings.TrimPrefix(p, "/") + "/" + strings.Repeat("d", 90) + "/" + strings.Repeat("e", 90) + "/" + long
	found := false
	for _, n := range names {
		found = found || n == want
	}
	if !found {
		t.Errorf("%s missing from %q", want, names)
	}
}

func TestConfigOnBase(t *testing.T) {
	base := &Base{Env: []string{"PATH=/base/bin", "LANG=C", "A=base"}, User: "www", WorkingDir: "/base", Labels: map[string]string{"from": "base", "team": "base"}}
	m := &manifest.Manifest{Version: 1, Name: "web", Entrypoint: []string{"/x"}, Env: map[string]string{"A": "app"}, WorkDir: "/app", Labels: map[string]string{"team": "app"}}
	b, err := ConfigJSON(m, "/nix/store/zzz-pkg", nil, Options{Base: base})
	must(t, err)
	var c struct {
		Config containerConfig `json:"config"`
	}
	must(t, json.Unmarshal(b, &c))
	want := containerConfig{
		User: "www", WorkingDir: "/app", Entrypoint: []string{"/x"}, StopSignal: "SIGTERM",
		Env:    []string{"A=app", "LANG=C", "PATH=/base/bin"},
		Labels: map[string]string{"from": "base", "team": "app", LabelApp: "web", LabelPackage: "/nix/store/zzz-pkg"},
	}
	if diff := cmp.Diff(want, c.Config); diff != "" {
		t.Errorf("config on a base (-want +got):\n%s", diff)
	}
}

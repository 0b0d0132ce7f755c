package dockerrt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	dimage "github.com/docker/docker/api/types/image"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// storeLinks adds a directory holding the given symlinks (name -> target)
// and files to the store.
func storeLinks(t *testing.T, name string, links, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := storeAdd(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The manifest's etc is read as root: links out of the store, or to store
// paths outside the package's closure, are refused and nothing of them
// lands in an image.
func TestEtcConfinedToClosure(t *testing.T) {
	r := runtimeForTest(t)
	bb := storeBusybox(t)
	ctx := context.Background()
	app := uniqueApp(t, r, "etc")
	other := storeDir(t, "other", map[string]string{"passwd": "root:x:0:0:other:/:/bin/sh\n"})
	cases := []struct {
		name    string
		links   map[string]string
		closure func(etc, pkg string) []string
		want    string
	}{
		{"absolute link out of the store", map[string]string{"shadow": "/etc/shadow"}, nil, `leads to "/etc/shadow": out of the store`},
		{"relative link out of the store", map[string]string{"shadow": "../../../../../etc/shadow"}, nil, "out of the store"},
		{"link into the store directory itself", map[string]string{"store": ".."}, nil, "out of the store"},
		{"link outside the closure", map[string]string{"passwd": other + "/passwd"},
			func(etc, pkg string) []string { return []string{pkg, bb, etc} }, "outside the package's closure"},
		{"relative link to a sibling outside the closure", map[string]string{"passwd": "../" + filepath.Base(other) + "/passwd"},
			func(etc, pkg string) []string { return []string{pkg, bb, etc} }, "outside the package's closure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			etc := storeLinks(t, "etc-bad", c.links, map[string]string{"group": "root:x:0:\n"})
			m := shApp(app, bb, etc, "exec $BB sleep 1000")
			pkg := addPackage(t, m)
			var closure []string
			if c.closure != nil {
				closure = c.closure(etc, pkg)
			}
			_, err := r.EnsureImageIn(ctx, m, pkg, closure)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("EnsureImageIn with etc %v = %v, want an error containing %q", c.links, err, c.want)
			}
			if c.closure != nil && !errors.Is(err, image.ErrOutsideClosure) {
				t.Errorf("error %v is not ErrOutsideClosure", err)
			}
			imgs, err := r.c.ImageList(ctx, dimage.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", image.Repository(app)))})
			if err != nil || len(imgs) != 0 {
				t.Errorf("images of %s after a refused etc: %d (%v), want none", app, len(imgs), err)
			}
		})
	}

	// A link to a store path of the closure is copied as a file.
	etc := storeLinks(t, "etc-good", map[string]string{"passwd": other + "/passwd"}, map[string]string{"group": "root:x:0:\n"})
	m := shApp(app, bb, etc, "exec $BB sleep 1000")
	m.Healthcheck = nil
	pkg := addPackage(t, m)
	if _, err := r.EnsureImageIn(ctx, m, pkg, []string{pkg, bb, etc, other}); err != nil {
		t.Fatalf("etc linking into the closure: %v", err)
	}
	if _, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg, Manifest: m, ImageID: imageID(ctx, t, r, m, pkg), Generation: 1, HostStore: true}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code, err := r.Exec(ctx, app, []string{bb + "/bin/busybox", "cat", "/etc/passwd"}, nil, &out, nil); err != nil || code != 0 || !strings.Contains(out.String(), "other") {
		t.Errorf("/etc/passwd in the container = %q (exit %d, %v), want the linked file's content", out.String(), code, err)
	}
}

func imageID(ctx context.Context, t *testing.T, r *Runtime, m *manifest.Manifest, pkg string) string {
	t.Helper()
	id, err := r.EnsureImage(ctx, m, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A port another nd app holds is refused naming that app, before anything
// of the deploying app changes.
func TestPortHeldByOtherApp(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ctx := context.Background()
	web, other := uniqueApp(t, r, "web"), uniqueApp(t, r, "oth")
	port := testutil.FreePort(t)
	if _, err := deploy(ctx, t, r, httpdApp(web, bb, etc, "v1", port), 1); err != nil {
		t.Fatal(err)
	}
	_, err := deploy(ctx, t, r, httpdApp(other, bb, etc, "v1", port), 1)
	if err == nil || !strings.Contains(err.Error(), "is held by app "+web) {
		t.Fatalf("deploy of %s on %s's port: %v, want 'port %d is held by app %s'", other, web, err, port, web)
	}
	if _, err := r.c.ContainerInspect(ctx, newName(other)); err == nil {
		t.Errorf("a container of %s was created", other)
	}
	if code, body := httpGet(t, port, "/version"); code != 200 || strings.TrimSpace(body) != "v1" {
		t.Errorf("%s after the refused deploy: %d %q", web, code, body)
	}
}

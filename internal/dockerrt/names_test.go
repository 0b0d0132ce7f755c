package dockerrt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
)

// volumeApp keeps a volume vol at /data and writes who into /data/who the
// first time; exec `cat /data/who` shows whose data the container sees.
func volumeApp(app, vol, bb, etc, who string) *manifest.Manifest {
	m := shApp(app, bb, etc, `test -e /data/who || echo `+who+` > /data/who; exec $BB sleep 1000`)
	m.Volumes = []manifest.Volume{{Name: vol, Path: "/data"}}
	return m
}

func execCat(ctx context.Context, t *testing.T, r *Runtime, app, bb, file string) string {
	t.Helper()
	var out, errb strings.Builder
	code, err := r.Exec(ctx, app, []string{bb + "/bin/busybox", "cat", "/data/" + file}, nil, &out, &errb)
	if err != nil || code != 0 {
		t.Fatalf("exec cat /data/%s in %s: exit %d, %v: %s", file, app, code, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// App "A" with volume "x-data" and app "A-x" with volume "data" were one
// Docker volume (nd-A-x-data): each now has its own, and rm --volumes of
// one leaves the other's data.
func TestVolumesOfLookalikeApps(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ctx := context.Background()
	a := uniqueApp(t, r, "vc")
	b := a + "-x"
	cleanupApp(t, r, b)
	if _, err := deploy(ctx, t, r, volumeApp(a, "x-data", bb, etc, "app-a"), 1); err != nil {
		t.Fatalf("deploy %s: %v", a, err)
	}
	if _, err := deploy(ctx, t, r, volumeApp(b, "data", bb, etc, "app-b"), 1); err != nil {
		t.Fatalf("deploy %s: %v", b, err)
	}
	if got := execCat(ctx, t, r, b, bb, "who"); got != "app-b" {
		t.Fatalf("app %s (volume data) sees /data/who = %q, want app-b: it shares app %s's volume x-data", b, got, a)
	}
	if err := r.Remove(ctx, a, true); err != nil {
		t.Fatalf("rm --volumes %s: %v", a, err)
	}
	if got := execCat(ctx, t, r, b, bb, "who"); got != "app-b" {
		t.Errorf("after rm --volumes %s, app %s sees /data/who = %q, want app-b", a, b, got)
	}
	if _, err := r.c.VolumeInspect(ctx, manifest.VolumeName(b, "data")); err != nil {
		t.Errorf("after rm --volumes %s, volume of %s: %v", a, b, err)
	}
}

// A volume an earlier agent made (nd-<app>-<vol>, labelled as the app's)
// keeps serving that app; one of that name labelled as another app's is not
// taken, and rm --volumes refuses while another app uses one.
func TestLegacyVolumeNames(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ctx := context.Background()
	a := uniqueApp(t, r, "leg")
	legacy := manifest.LegacyVolumeName(a, "data")
	v, err := r.c.VolumeCreate(ctx, volume.CreateOptions{Name: legacy, Labels: map[string]string{LabelApp: a, LabelManaged: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "who"), []byte("old-data\n"), 0o644); err != nil {
		t.Fatalf("writing into the legacy volume: %v", err)
	}
	if _, err := deploy(ctx, t, r, volumeApp(a, "data", bb, etc, "new-data"), 1); err != nil {
		t.Fatalf("deploy %s: %v", a, err)
	}
	if got := execCat(ctx, t, r, a, bb, "who"); got != "old-data" {
		t.Errorf("app %s over its legacy volume %s sees /data/who = %q, want old-data", a, legacy, got)
	}
	if _, err := r.c.VolumeInspect(ctx, manifest.VolumeName(a, "data")); err == nil {
		t.Errorf("volume %s created although the legacy %s is the app's", manifest.VolumeName(a, "data"), legacy)
	}

	// "<a>-x" + "data" and a + "x-data" shared one legacy name; it is a's.
	b := a + "-x"
	cleanupApp(t, r, b)
	shared := manifest.LegacyVolumeName(b, "data")
	if shared != manifest.LegacyVolumeName(a, "x-data") {
		t.Fatalf("test premise: %s != %s", shared, manifest.LegacyVolumeName(a, "x-data"))
	}
	sv, err := r.c.VolumeCreate(ctx, volume.CreateOptions{Name: shared, Labels: map[string]string{LabelApp: a, LabelManaged: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sv.Mountpoint, "who"), []byte("a-data\n"), 0o644)
	if _, err := deploy(ctx, t, r, volumeApp(b, "data", bb, etc, "b-data"), 1); err != nil {
		t.Fatalf("deploy %s: %v", b, err)
	}
	if got := execCat(ctx, t, r, b, bb, "who"); got != "b-data" {
		t.Errorf("app %s took %s, labelled as app %s's: sees /data/who = %q", b, shared, a, got)
	}

	// a's volumes: the legacy nd-<a>-data and nd-<a>-x-data; both a's.
	// A container of another app that uses one stops rm --volumes
	// before anything is removed.
	mb := volumeApp(b, "data", bb, etc, "b-data")
	mb.Volumes = append(mb.Volumes, manifest.Volume{Name: "other", Path: "/other"})
	if err := r.Remove(ctx, b, false); err != nil {
		t.Fatal(err)
	}
	pkg := addPackage(t, mb)
	id, err := r.EnsureImage(ctx, mb, pkg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := containerConfig(deployspec.Spec{App: b, Package: pkg, Manifest: mb, ImageID: id, HostStore: true}, nil, "",
		map[string]appVolume{"data": {Name: manifest.VolumeName(b, "data")}, "other": {Name: legacy}}, false)
	if _, err := r.c.ContainerCreate(ctx, cfg, hc, nil, nil, ContainerName(b)); err != nil {
		t.Fatal(err)
	}
	err = r.Remove(ctx, a, true)
	if err == nil || !strings.Contains(err.Error(), "also used by app "+b) {
		t.Fatalf("rm --volumes %s while app %s uses %s: %v, want refused naming %s", a, b, legacy, err, b)
	}
	if _, err := r.appContainer(ctx, a); err != nil {
		t.Errorf("after a refused rm: %v", err)
	} else if st, err := r.Status(ctx, a); err != nil || st.State != "running" {
		t.Errorf("after a refused rm, %s: %+v %v, want still running", a, st, err)
	}
}

// App "X.new" holds the name earlier agents gave X's temporary
// container: deploys and rm of X leave it alone.
func TestTemporaryNamesAreNoAppsName(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ctx := context.Background()
	x := uniqueApp(t, r, "tmpn")
	for _, role := range []string{manifest.RoleNew, manifest.RolePrev} {
		other := x + "." + role
		cleanupApp(t, r, other)
		if _, err := deploy(ctx, t, r, shApp(other, bb, etc, "exec $BB sleep 1000"), 1); err != nil {
			t.Fatalf("deploy %s: %v", other, err)
		}
	}
	for i, script := range []string{"exec $BB sleep 1000", "exec $BB sleep 1001"} {
		if _, err := deploy(ctx, t, r, shApp(x, bb, etc, script), i+1); err != nil {
			t.Fatalf("deploy %d of %s: %v", i+1, x, err)
		}
	}
	if err := r.Remove(ctx, x, true); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{manifest.RoleNew, manifest.RolePrev} {
		other := x + "." + role
		if st, err := r.Status(ctx, other); err != nil || st.State != "running" {
			t.Errorf("app %s after two deploys and rm of %s: %+v, %v; want it running", other, x, st, err)
		}
	}
}

// A leftover of an interrupted deploy by an earlier agent ("nd-X.new",
// labelled as X's) is X's, and the next deploy of X removes it.
func TestLegacyTemporaryLeftoverRemoved(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ctx := context.Background()
	x := uniqueApp(t, r, "legtmp")
	if _, err := deploy(ctx, t, r, shApp(x, bb, etc, "exec $BB sleep 1000"), 1); err != nil {
		t.Fatal(err)
	}
	cur, err := r.appContainer(ctx, x)
	if err != nil || cur == nil {
		t.Fatalf("container of %s: %v", x, err)
	}
	legacy := manifest.LegacyTempContainerName(x, manifest.RoleNew)
	if _, err := r.c.ContainerCreate(ctx, cur.Config, &container.HostConfig{}, nil, nil, legacy); err != nil {
		t.Fatal(err)
	}
	if _, err := deploy(ctx, t, r, shApp(x, bb, etc, "exec $BB sleep 1001"), 2); err != nil {
		t.Fatalf("deploy after an earlier agent's leftover: %v", err)
	}
	if _, err := r.c.ContainerInspect(ctx, legacy); err == nil {
		t.Errorf("leftover %s of app %s is still there", legacy, x)
	}
}

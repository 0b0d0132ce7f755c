package dockerrt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// httpdApp serves /data (a named volume) on 8080 and, the first time, writes
// a marker file into the volume.
func httpdApp(app, bb, etc, version string, hostPort int) *manifest.Manifest {
	m := shApp(app, bb, etc, fmt.Sprintf(
		`test -e /data/first || echo written-by-%s > /data/first; echo %s > /data/version; exec $BB httpd -f -p 8080 -h /data`, version, version))
	m.Volumes = []manifest.Volume{{Name: "data", Path: "/data"}}
	m.Ports = []manifest.Port{{Host: hostPort, Container: 8080, HostIP: "127.0.0.1"}}
	m.StopGracePeriod = 1
	return m
}

func deploy(ctx context.Context, t *testing.T, r *Runtime, m *manifest.Manifest, gen int) (DeployResult, error) {
	t.Helper()
	pkg := addPackage(t, m)
	id, err := r.EnsureImage(ctx, m, pkg)
	if err != nil {
		t.Fatalf("EnsureImage: %v", err)
	}
	return r.Deploy(ctx, deployspec.Spec{
		App: m.Name, Package: pkg, Manifest: m, ImageID: id, Generation: gen, HostStore: true,
		SettleTime: time.Second, HealthTimeout: 20 * time.Second,
	})
}

func TestEnsureImageIsContentAddressed(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "img")
	m := shApp(app, bb, etc, "sleep 1")
	pkg := addPackage(t, m)
	ctx := context.Background()

	id1, err := r.EnsureImage(ctx, m, pkg)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := r.EnsureImage(ctx, m, pkg)
	if err != nil {
		t.Fatal(err)
	}
	want, err := image.Metadata(m, pkg, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || id1 != want.ID {
		t.Errorf("EnsureImage twice = %s, %s; want both %s", id1, id2, want.ID)
	}
	ii, err := r.c.ImageInspect(ctx, want.RepoTag)
	if err != nil {
		t.Fatalf("tag %s: %v", want.RepoTag, err)
	}
	if ii.ID != want.ID || len(ii.RootFS.Layers) != 1 || ii.RootFS.Layers[0] != want.Layers[0].DiffID {
		t.Errorf("loaded image %s layers %v; want %s with %s", ii.ID, ii.RootFS.Layers, want.ID, want.Layers[0].DiffID)
	}
	if ii.Config.Labels[LabelPackage] != pkg || ii.Config.Entrypoint[0] != bb+"/bin/busybox" {
		t.Errorf("image config labels %v entrypoint %v", ii.Config.Labels, ii.Config.Entrypoint)
	}
}

func TestDeployUpdateRollback(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "life")
	port := testutil.FreePort(t)
	ctx := context.Background()

	// First deploy.
	v1 := httpdApp(app, bb, etc, "v1", port)
	res1, err := deploy(ctx, t, r, v1, 1)
	if err != nil {
		t.Fatalf("deploy v1: %v", err)
	}
	if !res1.Changed || res1.Previous != "" {
		t.Errorf("deploy v1 = %+v, want Changed and no previous", res1)
	}
	if code, body := httpGet(t, port, "/version"); code != 200 || strings.TrimSpace(body) != "v1" {
		t.Fatalf("GET /version = %d %q, want v1", code, body)
	}

	// Same package again: nothing changes.
	res, err := deploy(ctx, t, r, v1, 2)
	if err != nil {
		t.Fatalf("redeploy v1: %v", err)
	}
	if res.Changed || res.ContainerID != res1.ContainerID {
		t.Errorf("redeploy v1 = %+v, want unchanged container %s", res, res1.ContainerID)
	}

	// Forced: a new container even for the same package.
	pkg1 := res1.ContainerID
	var stages []string
	resF, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: st1Pkg(ctx, t, r, app), Manifest: v1, ImageID: imageOf(ctx, t, r, app), Generation: 2,
		HostStore: true, Force: true, SettleTime: time.Second, Progress: func(stage, msg string) { stages = append(stages, stage+": "+msg) }})
	if err != nil || !resF.Changed || resF.Previous != pkg1 {
		t.Fatalf("forced redeploy = %+v, %v; want a new container replacing %s", resF, err, pkg1)
	}
	if len(stages) < 3 {
		t.Errorf("progress: %q", stages)
	}
	res1 = resF

	// New package: new container, volume data kept.
	v2 := httpdApp(app, bb, etc, "v2", port)
	res2, err := deploy(ctx, t, r, v2, 3)
	if err != nil {
		t.Fatalf("deploy v2: %v", err)
	}
	if !res2.Changed || res2.ContainerID == res1.ContainerID || res2.Previous != res1.ContainerID {
		t.Errorf("deploy v2 = %+v, want a new container replacing %s", res2, res1.ContainerID)
	}
	if _, body := httpGet(t, port, "/version"); strings.TrimSpace(body) != "v2" {
		t.Errorf("after v2: /version = %q", body)
	}
	if _, body := httpGet(t, port, "/first"); strings.TrimSpace(body) != "written-by-v1" {
		t.Errorf("after v2: /first = %q, want the volume data of v1", body)
	}
	st, err := r.Status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "running" || st.ContainerID != res2.ContainerID || st.Generation != 3 || st.Mode != manifest.ModeHostStore ||
		len(st.Ports) != 1 || st.Ports[0] != (manifest.Port{Host: port, Container: 8080, Protocol: "tcp", HostIP: "127.0.0.1"}) {
		t.Errorf("Status = %+v", st)
	}

	ci, err := r.c.ContainerInspect(ctx, ContainerName(app))
	if err != nil {
		t.Fatal(err)
	}
	if ci.HostConfig.RestartPolicy.Name != "unless-stopped" || len(ci.Mounts) != 2 {
		t.Errorf("restart policy %q, mounts %+v; want unless-stopped, /nix/store and the volume", ci.HostConfig.RestartPolicy.Name, ci.Mounts)
	}
	for _, mp := range ci.Mounts {
		if mp.Destination == "/nix/store" && mp.RW {
			t.Errorf("/nix/store is mounted read-write")
		}
	}

	// A package that exits at once: rolled back to v2.
	bad := shApp(app, bb, etc, "echo the-cause-of-failure >&2; exit 3")
	bad.Ports, bad.Volumes = v2.Ports, v2.Volumes
	_, err = deploy(ctx, t, r, bad, 4)
	var de *DeployError
	if !errors.As(err, &de) || !de.RolledBack {
		t.Fatalf("deploy of exiting package: err = %v, want a rolled-back DeployError", err)
	}
	for _, want := range []string{"exited with code 3", "the-cause-of-failure", "rolled back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	assertRunning(ctx, t, r, app, res2.ContainerID, port, "v2")

	// A package that never becomes healthy: rolled back to v2.
	sick := httpdApp(app, bb, etc, "sick", port)
	sick.Healthcheck = &manifest.Healthcheck{Command: []string{bb + "/bin/busybox", "false"}, Interval: 1, Retries: 2, Timeout: 1}
	_, err = deploy(ctx, t, r, sick, 5)
	if !errors.As(err, &de) || !de.RolledBack || !strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("deploy of unhealthy package: err = %v, want a rolled-back DeployError saying unhealthy", err)
	}
	assertRunning(ctx, t, r, app, res2.ContainerID, port, "v2")

	// Old images go, the running one stays.
	pruned, err := r.PruneImages(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if pruned < 3 {
		t.Errorf("PruneImages removed %d images, want at least v1, bad, sick", pruned)
	}
	if _, err := r.c.ImageInspect(ctx, imageOf(ctx, t, r, app)); err != nil {
		t.Errorf("running image pruned: %v", err)
	}

	// List sees the app once (no temporary containers).
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range list {
		if a.App == app {
			n++
		}
	}
	if n != 1 {
		t.Errorf("List has %s %d times, want once", app, n)
	}

	// Remove with volumes.
	if err := r.Remove(ctx, app, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Status(ctx, app); !errors.Is(err, ErrNoApp) {
		t.Errorf("Status after Remove: %v, want ErrNoApp", err)
	}
	if _, err := r.c.VolumeInspect(ctx, manifest.VolumeName(app, "data")); err == nil {
		t.Errorf("volume survived Remove(volumes=true)")
	}
}

func assertRunning(ctx context.Context, t *testing.T, r *Runtime, app, id string, port int, version string) {
	t.Helper()
	st, err := r.Status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if st.ContainerID != id || st.State != "running" {
		t.Errorf("Status = %s %s, want %s running", st.ContainerID, st.State, id)
	}
	if _, body := httpGet(t, port, "/version"); strings.TrimSpace(body) != version {
		t.Errorf("/version = %q, want %s", body, version)
	}
	for _, n := range []string{newName(app), prevName(app)} {
		if _, err := r.c.ContainerInspect(ctx, n); err == nil {
			t.Errorf("temporary container %s left over", n)
		}
	}
}

func TestHealthcheckCommandAndExec(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "health")
	port := testutil.FreePort(t)
	ctx := context.Background()
	m := httpdApp(app, bb, etc, "h1", port)
	m.Healthcheck = &manifest.Healthcheck{
		Command:  []string{bb + "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/version"},
		Interval: 1, Timeout: 2, Retries: 3,
	}
	if _, err := deploy(ctx, t, r, m, 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := r.Status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if st.Health != "healthy" {
		t.Errorf("health = %q, want healthy", st.Health)
	}
	var out strings.Builder
	code, err := r.Exec(ctx, app, []string{bb + "/bin/busybox", "cat", "/etc/passwd", "/data/version"}, nil, &out, &out)
	if err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	if !strings.Contains(out.String(), "nobody:x:65534") || !strings.Contains(out.String(), "h1") {
		t.Errorf("Exec output %q lacks /etc/passwd and the version", out.String())
	}
	// Follow: output written later arrives, and Close ends the stream.
	rc, err := r.Logs(ctx, app, LogsOptions{Follow: true, Tail: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec(ctx, app, []string{bb + "/bin/busybox", "sh", "-c", "echo late-line > /proc/1/fd/1"}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 100)
		n, _ := rc.Read(b)
		got <- string(b[:n])
	}()
	select {
	case line := <-got:
		if !strings.Contains(line, "late-line") {
			t.Errorf("followed logs read %q, want late-line", line)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("followed logs: nothing within 10s")
	}
	rc.Close()
}

func TestEnvFilesAreSecretEnv(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "env")
	ctx := context.Background()
	f := filepath.Join(t.TempDir(), "secrets.env")
	if err := os.WriteFile(f, []byte("# comment\nSECRET_TOKEN=s3cr3t=x\n\nOTHER=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := shApp(app, bb, etc, `echo "token=$SECRET_TOKEN other=$OTHER"; exec $BB sleep 1000`)
	pkg := addPackage(t, m)
	id, err := r.EnsureImage(ctx, m, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg, Manifest: m, ImageID: id, HostStore: true, EnvFiles: []string{f}, SettleTime: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	rc, err := r.Logs(ctx, app, LogsOptions{Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b := make([]byte, 200)
	n, _ := rc.Read(b)
	if got := strings.TrimSpace(string(b[:n])); got != "token=s3cr3t=x other=1" {
		t.Errorf("container saw %q", got)
	}
	// A changed secret is a change even with the same package.
	if err := os.WriteFile(f, []byte("SECRET_TOKEN=new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg, Manifest: m, ImageID: id, HostStore: true, EnvFiles: []string{f}, SettleTime: 500 * time.Millisecond})
	if err != nil || !res.Changed {
		t.Errorf("redeploy with new secret = %+v, %v; want changed", res, err)
	}
}

// TestImageMode builds the full layered image of a package's closure, writes
// it as a docker-archive, loads it with `docker load` and runs it without any
// /nix bind mount; then loads an incremental archive that leaves out the
// layers the daemon already holds.
func TestImageMode(t *testing.T) {
	r := runtimeForTest(t)
	testutil.RequireCommands(t, "docker")
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "layered")
	port := testutil.FreePort(t)
	ctx := context.Background()
	m := httpdApp(app, bb, etc, "layered-v1", port)
	pkg := addPackage(t, m)
	closure := image.Closure{
		pkg: {Path: pkg, NarSize: 1, References: []string{bb, etc}},
		bb:  {Path: bb, NarSize: 2 << 20},
		etc: {Path: etc, NarSize: 1},
	}
	img, err := image.Layered(m, pkg, closure, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 4 {
		t.Fatalf("%d layers, want 3 store paths + metadata", len(img.Layers))
	}
	again, err := image.Layered(m, pkg, closure, image.Options{})
	if err != nil || again.ID != img.ID {
		t.Fatalf("second build: %v, ID %s vs %s", err, again.ID, img.ID)
	}
	id, err := r.EnsureBuilt(ctx, img)
	if err != nil {
		t.Fatalf("pulling the layered image: %v", err)
	}
	if id != img.ID {
		t.Errorf("EnsureBuilt = %s, want the config digest %s on the classic store", id, img.ID)
	}
	// Plain docker run, no bind mounts: the store paths come from the layers.
	out, err := exec.Command("docker", "run", "--rm", "--entrypoint", bb+"/bin/busybox", img.RepoTag, "cat", pkg+"/"+manifest.FileName, "/etc/group").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"name": "`+app+`"`) || !strings.Contains(string(out), "nogroup:x:65534") {
		t.Fatalf("docker run of the layered image: %v\n%s", err, out)
	}
	if err := r.CheckImage(ctx, img.ID, app, pkg); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckImage(ctx, img.ID, app, "/nix/store/other"); err == nil {
		t.Errorf("CheckImage accepted the wrong package")
	}
	res, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg, Manifest: m, ImageID: img.ID, Generation: 1, SettleTime: time.Second})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	ci, err := r.c.ContainerInspect(ctx, res.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range ci.Mounts {
		if strings.HasPrefix(mp.Destination, "/nix") {
			t.Errorf("image mode mounts %s", mp.Destination)
		}
	}
	if _, body := httpGet(t, port, "/version"); strings.TrimSpace(body) != "layered-v1" {
		t.Errorf("/version = %q", body)
	}
	if st, err := r.Status(ctx, app); err != nil || st.Mode != manifest.ModeImage {
		t.Errorf("Status = %+v, %v; want mode image", st, err)
	}

	// v2 shares the bottom layers: an archive without them loads.
	m2 := httpdApp(app, bb, etc, "layered-v2", port)
	pkg2 := addPackage(t, m2)
	closure2 := image.Closure{pkg2: {Path: pkg2, NarSize: 1, References: []string{bb, etc}}, bb: closure[bb], etc: closure[etc]}
	img2, err := image.Layered(m2, pkg2, closure2, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.EnsureBuilt(ctx, img2); err != nil {
		t.Fatalf("pulling v2: %v", err)
	}
	if _, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg2, Manifest: m2, ImageID: img2.ID, Generation: 2, SettleTime: time.Second}); err != nil {
		t.Fatalf("deploy v2: %v", err)
	}
	if _, body := httpGet(t, port, "/version"); strings.TrimSpace(body) != "layered-v2" {
		t.Errorf("/version = %q", body)
	}
}

func st1Pkg(ctx context.Context, t *testing.T, r *Runtime, app string) string {
	t.Helper()
	st, err := r.Status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	return st.Package
}

func imageOf(ctx context.Context, t *testing.T, r *Runtime, app string) string {
	t.Helper()
	st, err := r.Status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	return st.Image
}

// TestRestartPolicyAfterProbation: once deployed, a crashing container is
// restarted by Docker (the policy that also brings it back after a reboot).
func TestRestartPolicyAfterProbation(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "restart")
	ctx := context.Background()
	m := shApp(app, bb, etc, `n=$($BB cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; if [ $n = 1 ]; then $BB sleep 2; exit 1; fi; exec $BB sleep 1000`)
	m.Volumes = []manifest.Volume{{Name: "data", Path: "/data"}}
	if _, err := deploy(ctx, t, r, m, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := r.Status(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		if st.RestartCount >= 1 && st.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container not restarted after its crash: %+v", st)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestImageModeFromBase: a layered image on top of a base image read from
// what `docker save` wrote; the base's /bin/sh, env and workdir are used, the
// store paths come from the layers, and the base layer is not resent.
func TestImageModeFromBase(t *testing.T) {
	r := runtimeForTest(t)
	testutil.RequireCommands(t, "docker")
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "base")
	ctx := context.Background()

	bbData, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	baseLayer, err := image.FilesLayer([]image.File{
		{Path: "/bin/busybox", Mode: 0o755, Data: bbData},
		{Path: "/bin/sh", Mode: os.ModeSymlink | 0o777, Target: "busybox"},
		{Path: "/srv", Mode: os.ModeDir | 0o755},
	})
	if err != nil {
		t.Fatal(err)
	}
	baseApp := app + "-b"
	baseM := &manifest.Manifest{Version: 1, Name: baseApp, Entrypoint: []string{"/bin/sh"}, WorkDir: "/srv", Env: map[string]string{"FROM_BASE": "yes", "PATH": "/bin"}}
	baseImg, err := image.FromLayers(baseM, "/nix/store/00000000000000000000000000000000-base", []*image.Layer{baseLayer}, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.PruneImages(context.Background(), baseApp) })
	if _, err := r.EnsureBuilt(ctx, baseImg); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "base.tar")
	if out, err := exec.Command("docker", "save", "-o", saved, baseImg.RepoTag).CombinedOutput(); err != nil {
		t.Fatalf("docker save: %v\n%s", err, out)
	}
	base, err := image.ReadDockerArchive(saved)
	if err != nil {
		t.Fatal(err)
	}

	m := shApp(app, bb, etc, "")
	m.Entrypoint = []string{"/bin/sh", "-c", `test -x ` + bb + `/bin/busybox && echo "store-ok from-base=$FROM_BASE pwd=$(pwd) path=$PATH"`}
	pkg := addPackage(t, m)
	closure := image.Closure{pkg: {Path: pkg, References: []string{bb, etc}}, bb: {Path: bb}, etc: {Path: etc}}
	img, err := image.Layered(m, pkg, closure, image.Options{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	if img.Layers[0].DiffID != baseLayer.DiffID {
		t.Fatalf("bottom layer %s, want the base's %s", img.Layers[0].DiffID, baseLayer.DiffID)
	}
	if _, err := r.EnsureBuilt(ctx, img); err != nil {
		t.Fatalf("pulling the image on its base: %v", err)
	}
	out, err := exec.Command("docker", "run", "--rm", img.RepoTag).CombinedOutput()
	if want := "store-ok from-base=yes pwd=/srv path=/bin"; err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("docker run = %v %q, want %q", err, out, want)
	}
}

// TestDeployAfterInterruption: a deploy interrupted after stopping the old
// container (renamed .prev) and creating the new one (.new) is cleaned up by
// the next deploy: .new removed, the old container back under its name.
func TestDeployAfterInterruption(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "intr")
	port := testutil.FreePort(t)
	ctx := context.Background()
	v1 := httpdApp(app, bb, etc, "v1", port)
	res1, err := deploy(ctx, t, r, v1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := r.c.ContainerInspect(ctx, res1.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.ContainerCreate(ctx, ci.Config, &container.HostConfig{}, nil, nil, newName(app)); err != nil {
		t.Fatal(err)
	}
	if err := r.c.ContainerRename(ctx, res1.ContainerID, prevName(app)); err != nil {
		t.Fatal(err)
	}
	if err := r.c.ContainerStop(ctx, res1.ContainerID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := deploy(ctx, t, r, v1, 1)
	if err != nil {
		t.Fatalf("deploy after interruption: %v", err)
	}
	if res.ContainerID != res1.ContainerID {
		t.Errorf("deploy after interruption ran %s, want the restored %s", res.ContainerID, res1.ContainerID)
	}
	assertRunning(ctx, t, r, app, res1.ContainerID, port, "v1")
}

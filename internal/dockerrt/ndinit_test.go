package dockerrt

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// storeNdInit builds cmd/nd-init and adds it to the store as <dir>/bin/nd-init.
func storeNdInit(t *testing.T) string {
	t.Helper()
	return storeNdInitBinary(t, testutil.BuildBinaries(t, "nd-init")["nd-init"])
}

// storeNdInitBinary adds the nd-init binary bin to the store as <dir>/bin/nd-init.
func storeNdInitBinary(t *testing.T, bin string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "nd-init")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/nd-init"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := storeAdd(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storeProcesses adds a processes file of procs for app to the store.
func storeProcesses(t *testing.T, app string, procs ...manifest.Process) string {
	t.Helper()
	data, err := json.Marshal(manifest.Processes{Version: 1, Processes: procs})
	if err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(t.TempDir(), "processes-"+app+".json")
	if err := os.WriteFile(pf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := storeAdd(pf)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// initApp is an app the way the modules build it: nd-init runs the processes
// file, and the healthcheck is an HTTP probe answered by nd-init.
func initApp(t *testing.T, app, bb, etc, ndInit string, port int, probePath string) *manifest.Manifest {
	t.Helper()
	procPath := storeProcesses(t, app,
		manifest.Process{Name: "seed", Command: bb + "/bin/busybox sh -c 'echo ok > /data/health'", Oneshot: true},
		manifest.Process{Name: "web", Command: bb + "/bin/busybox httpd -f -p 8080 -h /data"},
	)
	return &manifest.Manifest{
		Version: 1, Name: app, Init: ndInit, ProcessesFile: procPath, Etc: etc,
		Entrypoint:      []string{ndInit + "/bin/nd-init", procPath},
		Ports:           []manifest.Port{{Host: port, Container: 8080, HostIP: "127.0.0.1"}},
		Volumes:         []manifest.Volume{{Name: "data", Path: "/data"}},
		Healthcheck:     &manifest.Healthcheck{HTTP: &manifest.HTTPProbe{Port: 8080, Path: probePath}, Interval: 1, Timeout: 2, Retries: 2},
		StopGracePeriod: 3,
	}
}

func TestWithNdInitHTTPProbe(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ndInit := storeNdInit(t)
	app := uniqueApp(t, r, "init")
	port := testutil.FreePort(t)
	ctx := context.Background()

	res, err := deploy(ctx, t, r, initApp(t, app, bb, etc, ndInit, port, "/health"), 1)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := r.Status(ctx, app)
	if err != nil || st.Health != "healthy" {
		t.Fatalf("Status = %+v, %v; want healthy", st, err)
	}
	if _, body := httpGet(t, port, "/health"); strings.TrimSpace(body) != "ok" {
		t.Errorf("/health = %q", body)
	}

	// A probe path that 404s never gets healthy: rolled back.
	_, err = deploy(ctx, t, r, initApp(t, app, bb, etc, ndInit, port, "/missing"), 2)
	var de *DeployError
	if !errors.As(err, &de) || !de.RolledBack {
		t.Fatalf("deploy with a failing probe: %v, want a rollback", err)
	}
	assertRunningID(ctx, t, r, app, res.ContainerID)
}

func assertRunningID(ctx context.Context, t *testing.T, r *Runtime, app, id string) {
	t.Helper()
	st, err := r.Status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if st.ContainerID != id || st.State != "running" {
		t.Errorf("Status = %s %s, want %s running", st.ContainerID, st.State, id)
	}
}

package dockerrt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// Store fixtures: busybox and an /etc directory put into the real store with
// nix-store --add, and deploy packages holding a manifest.

var busyboxOnce struct {
	sync.Once
	path string
	err  error
}

// storeBusybox returns a store path holding bin/busybox and bin/sh.
func storeBusybox(t *testing.T) string {
	t.Helper()
	testutil.RequireCommands(t, "nix-store")
	_, err := os.Stat("/bin/busybox")
	testutil.Require(t, err == nil, "needs /bin/busybox (busybox-static)")
	busyboxOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("nd-dockerrt-bb-%d", os.Getpid()), "busybox")
		defer os.RemoveAll(filepath.Dir(dir))
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			busyboxOnce.err = err
			return
		}
		data, err := os.ReadFile("/bin/busybox")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755)
		}
		if err == nil {
			err = os.Symlink("busybox", filepath.Join(dir, "bin/sh"))
		}
		if err != nil {
			busyboxOnce.err = err
			return
		}
		busyboxOnce.path, busyboxOnce.err = storeAdd(dir)
	})
	if busyboxOnce.err != nil {
		t.Fatalf("adding busybox to the store: %v", busyboxOnce.err)
	}
	return busyboxOnce.path
}

func storeAdd(dir string) (string, error) {
	out, err := exec.Command("nix-store", "--add", dir).Output()
	if err != nil {
		return "", fmt.Errorf("nix-store --add %s: %w", dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// storeDir writes files into a fresh directory named name and adds it.
func storeDir(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for p, content := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := storeAdd(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func storeEtc(t *testing.T) string {
	return storeDir(t, "etc", map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"group":  "root:x:0:\nnogroup:x:65534:\n",
	})
}

// addPackage writes m into a deploy package in the store.
func addPackage(t *testing.T, m *manifest.Manifest) string {
	t.Helper()
	if err := m.Validate(); err != nil {
		t.Fatalf("test manifest: %v", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return storeDir(t, "nd-deploy-"+m.Name, map[string]string{manifest.FileName: string(b)})
}

// shApp is a manifest whose entrypoint runs script with busybox sh.
func shApp(name, bb, etc, script string) *manifest.Manifest {
	return &manifest.Manifest{
		Version:    manifest.Version,
		Name:       name,
		Entrypoint: []string{bb + "/bin/busybox", "sh", "-c", script},
		Etc:        etc,
		Env:        map[string]string{"BB": bb + "/bin/busybox"},
		// busybox as PID 1 ignores SIGTERM: do not wait Docker's 10 s.
		StopGracePeriod: 1,
	}
}

func runtimeForTest(t *testing.T) *Runtime {
	t.Helper()
	testutil.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := imagereg.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := st.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	r, closer, err := Connect(ctx, Options{Registry: reg, Log: hclog.New(&hclog.LoggerOptions{Name: "dockerrt", Level: hclog.Debug, Output: testWriter{t}})})
	testutil.Require(t, err == nil, fmt.Sprintf("needs dockerd: %v", err))
	t.Cleanup(func() { closer.Close() })
	return r
}

// uniqueApp gives each test its own app name and removes everything of it
// when the test ends, checking nothing is left.
func uniqueApp(t *testing.T, r *Runtime, base string) string {
	t.Helper()
	app := fmt.Sprintf("ndtest-%s-%d-%d", base, os.Getpid(), time.Now().UnixNano()%1e6)
	cleanupApp(t, r, app)
	return app
}

// cleanupApp removes everything of app when the test ends, checking nothing
// is left.
func cleanupApp(t *testing.T, r *Runtime, app string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		if err := r.Remove(ctx, app, true); err != nil && !strings.Contains(err.Error(), ErrNoApp.Error()) {
			t.Errorf("cleanup: %v", err)
		}
		for _, n := range []string{ContainerName(app), newName(app), prevName(app)} {
			if ci, err := r.c.ContainerInspect(ctx, n); err == nil && ownedBy(ci.Config.Labels, app) {
				t.Errorf("cleanup: container %s left over", n)
			}
		}
	})
}

// httpGet fetches a path from 127.0.0.1:port, retrying briefly while the
// server starts.
func httpGet(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
	c := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for i := 0; i < 30; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return 0, ""
}

// testWriter sends log lines to t.Log, shown for failing tests or with -v.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

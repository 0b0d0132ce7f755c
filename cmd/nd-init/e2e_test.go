package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/manifest"
)

// TestContainer runs the static nd-init as PID 1 of a real container, the way
// nd deploys: an image holding nothing but nd-init, busybox and the processes
// file, and a host directory (standing in for /nix/store) bind-mounted
// read-only.
func TestContainer(t *testing.T) {
	requireDocker(t)
	bin := buildStatic(t)
	store := t.TempDir() // where the "store" lives, mounted at the same path
	if err := os.Chmod(store, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(store, "greeting"), "hello from the store\n", 0o644)
	write(t, filepath.Join(store, "www", "index.html"), "<h1>up</h1>\n", 0o644)

	bb := "/bin/busybox"
	procs := manifest.Processes{Version: 1, StopGracePeriod: 5, Processes: []manifest.Process{
		{Name: "setup", Oneshot: true, Command: bb + " cat " + filepath.Join(store, "greeting")},
		{Name: "who", Oneshot: true, User: "nobody", Command: bb + " sh -c 'echo ppid=$PPID; id'"},
		{Name: "web", User: "nobody", Command: bb + " httpd -f -v -p 127.0.0.1:8080 -h " + filepath.Join(store, "www")},
		{Name: "ticker", Command: bb + ` sh -c "trap 'echo bye; exit 0' TERM; echo tick; echo err-tick >&2; while :; do sleep 0.2; done"`},
	}}
	image := importImage(t, bin, procs)

	name := fmt.Sprintf("nd-init-e2e-%d", time.Now().UnixNano())
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() }) //nolint:errcheck // usually gone (--rm)
	c := startContainer(t, "run", "--rm", "--pull", "never", "--name", name, "-v", store+":"+store+":ro", image)
	c.waitLine(t, &c.stdout, "ticker | tick", 30*time.Second)
	c.waitLine(t, &c.stderr, "started web", 10*time.Second)

	// Health probes from inside the container, as Docker's health check runs them.
	probe := func(path string) int {
		var code int
		for i := 0; i < 20; i++ { // httpd may still be binding
			err := exec.Command("docker", "exec", name, "/nd-init", "probe-http", "8080", path).Run()
			code = 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("docker exec: %v", err)
			}
			if code == 0 || path != "/index.html" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		return code
	}
	if got := probe("/index.html"); got != 0 {
		t.Errorf("probe-http 8080 /index.html = %d, want 0", got)
	}
	if got := probe("/missing"); got != 1 {
		t.Errorf("probe-http 8080 /missing = %d, want 1", got)
	}

	start := time.Now()
	if out, err := exec.Command("docker", "stop", name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v: %s", err, out)
	}
	took := time.Since(start)
	code := c.wait(t, 30*time.Second)
	t.Logf("docker stop took %s", took)
	if took > 4*time.Second {
		t.Errorf("docker stop took %s; nd-init must stop its processes on SIGTERM, not wait for Docker's SIGKILL", took)
	}
	if code != 0 {
		t.Errorf("container exit status = %d, want 0 after docker stop", code)
	}

	for _, want := range []string{
		"setup | hello from the store",
		"who | ppid=1",
		"who | uid=65534(nobody) gid=65534(nogroup)",
		"ticker | tick",
		"ticker | bye",
	} {
		c.requireLine(t, &c.stdout, want)
	}
	for _, want := range []string{"ticker | err-tick", "nd-init | got SIGTERM, stopping", "nd-init | stopped"} {
		c.requireLine(t, &c.stderr, want)
	}
	for _, l := range append(c.stdout.snapshot(), c.stderr.snapshot()...) {
		if !strings.Contains(l, " | ") {
			t.Errorf("container output line without a prefix: %q", l)
		}
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", strings.Join(c.stdout.snapshot(), "\n"), strings.Join(c.stderr.snapshot(), "\n"))
}

// TestContainerOneshotFailure checks that a failing oneshot ends the
// container with its status.
func TestContainerOneshotFailure(t *testing.T) {
	requireDocker(t)
	bin := buildStatic(t)
	image := importImage(t, bin, manifest.Processes{Version: 1, Processes: []manifest.Process{
		{Name: "migrate", Oneshot: true, Command: "/bin/busybox sh -c 'echo cannot migrate >&2; exit 3'"},
		{Name: "web", Command: "/bin/busybox sleep 1000"},
	}})
	c := startContainer(t, "run", "--rm", "--pull", "never", image)
	if code := c.wait(t, 30*time.Second); code != 3 {
		t.Errorf("container exit status = %d, want 3", code)
	}
	c.requireLine(t, &c.stderr, "migrate | cannot migrate")
	if got := c.stdout.snapshot(); len(got) != 0 {
		t.Errorf("stdout = %q, want nothing (web must not start)", got)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// buildStatic builds nd-init as it ships: static, stripped. It reports the size.
func buildStatic(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "nd-init-build")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(buildDir, "nd-init"), ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bin := filepath.Join(buildDir, "nd-init")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("nd-init has a program interpreter: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Fatalf("nd-init needs shared libraries %v", libs)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("static stripped nd-init: %d bytes (%.1f MiB)", fi.Size(), float64(fi.Size())/(1<<20))
	return bin
}

// importImage makes an image whose only files are /nd-init, /bin/busybox,
// /processes.json and a passwd/group for nobody, with nd-init as entrypoint.
func importImage(t *testing.T, bin string, procs manifest.Processes) string {
	t.Helper()
	procsJSON, err := json.Marshal(procs)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	dir := func(name string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) []byte {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	dir("bin/")
	dir("etc/")
	add("nd-init", 0o755, read(bin))
	add("bin/busybox", 0o755, read("/bin/busybox"))
	add("processes.json", 0o644, procsJSON)
	add("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n"))
	add("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	image := fmt.Sprintf("nd-init-e2e:%d", time.Now().UnixNano())
	cmd := exec.Command("docker", "import", "--change", `ENTRYPOINT ["/nd-init", "/processes.json"]`, "-", image)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() }) //nolint:errcheck // best effort
	return image
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// requireDocker skips without a dockerd, but fails in CI (ND_TEST_REQUIRE_ALL=1).
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Run()
	if err == nil {
		return
	}
	if os.Getenv("ND_TEST_REQUIRE_ALL") == "1" {
		t.Fatalf("needs a running dockerd (%v), and ND_TEST_REQUIRE_ALL=1", err)
	}
	t.Skipf("needs a running dockerd: %v", err)
}

type collected struct {
	mu    sync.Mutex
	lines []string
}

func (c *collected) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// container is a foreground `docker run`: its stdout and stderr are the
// container's, separately.
type container struct {
	cmd            *exec.Cmd
	stdout, stderr collected
	done           chan struct{}
	code           int
}

func startContainer(t *testing.T, args ...string) *container {
	t.Helper()
	c := &container{cmd: exec.Command("docker", args...), done: make(chan struct{})}
	outR, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("docker run: %v", err)
	}
	var wg sync.WaitGroup
	for _, s := range []struct {
		r io.Reader
		c *collected
	}{{outR, &c.stdout}, {errR, &c.stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(s.r)
			for sc.Scan() {
				s.c.mu.Lock()
				s.c.lines = append(s.c.lines, sc.Text())
				s.c.mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		c.cmd.Wait() //nolint:errcheck // the status is what matters
		c.code = c.cmd.ProcessState.ExitCode()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill() //nolint:errcheck // test failed anyway
		}
	})
	return c
}

func (c *container) waitLine(t *testing.T, l *collected, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, line := range l.snapshot() {
			if strings.Contains(line, substr) {
				return
			}
		}
		select {
		case <-c.done:
			deadline = time.Now() // one last look below
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, line := range l.snapshot() {
		if strings.Contains(line, substr) {
			return
		}
	}
	t.Fatalf("no line with %q within %s; stdout:\n%s\nstderr:\n%s", substr, timeout,
		strings.Join(c.stdout.snapshot(), "\n"), strings.Join(c.stderr.snapshot(), "\n"))
}

func (c *container) requireLine(t *testing.T, l *collected, substr string) {
	t.Helper()
	for _, line := range l.snapshot() {
		if strings.Contains(line, substr) {
			return
		}
	}
	t.Errorf("no line with %q", substr)
}

func (c *container) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(timeout):
		t.Fatalf("container still running after %s", timeout)
		return 0
	}
}

package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var build struct {
	mu   sync.Mutex
	dir  string            // per-process output directory
	bins map[string]string // command name -> built binary
}

// binDirPrefix names the per-process build directories in os.TempDir. Each
// carries the PID of its process so a later process can remove the ones whose
// owner is gone (a test binary has no exit hook).
const binDirPrefix = "nd-testbin-"

// BuildBinaries builds the named commands of this module (a name "nd-push" or
// a path "./cmd/nd-push" both mean ./cmd/nd-push) with CGO_ENABLED=0, once per
// test process, and returns name -> absolute path of the binary. A build
// failure fails the test.
func BuildBinaries(t testing.TB, pkgs ...string) map[string]string {
	t.Helper()
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.bins == nil {
		build.bins = map[string]string{}
	}
	var todo []string
	for _, p := range pkgs {
		name := filepath.Base(p)
		if _, ok := build.bins[name]; !ok {
			todo = append(todo, name)
		}
	}
	if len(todo) > 0 {
		if err := buildInto(todo); err != nil {
			t.Fatalf("building %s: %v", strings.Join(todo, " "), err)
		}
	}
	out := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		name := filepath.Base(p)
		out[name] = build.bins[name]
	}
	return out
}

func buildInto(names []string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if build.dir == "" {
		removeStaleBinDirs()
		d, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", binDirPrefix, os.Getpid()))
		if err != nil {
			return fmt.Errorf("creating build dir: %w", err)
		}
		build.dir = d
	}
	args := []string{"build", "-o", build.dir + "/"}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	for _, n := range names {
		p := filepath.Join(build.dir, n)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("binary %s not produced: %w", n, err)
		}
		build.bins[n] = p
	}
	return nil
}

// removeStaleBinDirs deletes build directories of test processes that exited.
func removeStaleBinDirs() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), binDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// ModuleRoot returns the directory holding this module's go.mod, found by
// walking up from the working directory (a package directory under go test).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/nd-project/nd")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("finding module root: no go.mod of github.com/nd-project/nd above the working directory")
		}
		dir = parent
	}
}

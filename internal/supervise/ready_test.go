package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// The ready file appears only once the oneshots succeeded and every
// long-running process stayed up for its startsecs; one left by an earlier
// start of the container does not count.
func TestReadyFileAfterStartsecs(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	ready := filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "setup", Command: sh("sleep 0.2"), Oneshot: true},
		{Name: "slow", Command: sh("sleep 30"), StartSecs: 2},
		{Name: "quick", Command: sh("sleep 30")},
	}}, envReady+"="+ready)
	s.waitLine(t, s.stderr, "started slow", 5*time.Second)
	started := time.Now()
	if _, err := os.Stat(ready); err == nil {
		t.Fatalf("ready file exists before slow stayed up for its startsecs")
	}
	s.waitLine(t, s.stderr, "all processes started", 10*time.Second)
	if d := time.Since(started); d < 1500*time.Millisecond {
		t.Errorf("ready after %v, want about startsecs=2s", d)
	}
	if _, err := os.Stat(ready); err != nil {
		t.Fatalf("after 'all processes started': %v", err)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0", code)
	}
}

// A process that keeps failing its start never makes the container ready:
// the supervisor gives up (FATAL) without writing the file.
func TestReadyFileNeverForCrashLoop(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	ready := filepath.Join(t.TempDir(), "ready")
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "web", Command: sh("sleep 30")},
		{Name: "crash", Command: sh("exit 4"), StartSecs: 1},
	}}, envReady+"="+ready)
	if code := s.wait(t, 20*time.Second); code != 4 {
		t.Fatalf("exit status = %d, want 4 (crash went FATAL)", code)
	}
	if _, err := os.Stat(ready); err == nil {
		t.Errorf("a crash-looping process left the container marked ready")
	}
}

// A server is up when it listens: the ready file comes as soon as the one
// process with a long startsecs listens, not after its startsecs, and a
// process that neither listens nor has stayed up long enough holds it back.
func TestReadyFileWhenListening(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	port := testutil.FreePort(t)
	ready := filepath.Join(t.TempDir(), "ready")
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		// Listens after 0.3 s; startsecs would take 20.
		{Name: "web", Command: sh(fmt.Sprintf("sleep 0.3; exec %s httpd -f -p 127.0.0.1:%d -h /", busybox, port)), StartSecs: 20},
		{Name: "worker", Command: sh("sleep 30"), StartSecs: 2},
	}}, envReady+"="+ready)
	s.waitLine(t, s.stderr, "started worker", 5*time.Second)
	started := time.Now()
	s.waitLine(t, s.stderr, "web listens", 5*time.Second)
	if _, err := os.Stat(ready); err == nil {
		t.Fatalf("ready file exists while worker has been up for %v of its startsecs=2", time.Since(started))
	}
	s.waitLine(t, s.stderr, "all processes started", 10*time.Second)
	if d := time.Since(started); d < 1500*time.Millisecond || d > 10*time.Second {
		t.Errorf("ready after %v, want worker's startsecs=2s (and not web's 20s)", d)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0", code)
	}

	// Alone, the listening server makes the container ready at once.
	port = testutil.FreePort(t)
	ready = filepath.Join(t.TempDir(), "ready")
	s = startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "web", Command: fmt.Sprintf("%s httpd -f -p 127.0.0.1:%d -h /", busybox, port), StartSecs: 20},
	}}, envReady+"="+ready)
	s.waitLine(t, s.stderr, "started web", 5*time.Second)
	started = time.Now()
	s.waitLine(t, s.stderr, "all processes started", 5*time.Second)
	if d := time.Since(started); d > 5*time.Second {
		t.Errorf("ready after %v, want as soon as web listens", d)
	}
	if _, err := os.Stat(ready); err != nil {
		t.Fatalf("after 'all processes started': %v", err)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0", code)
	}
}

// A server that listens and then dies within its startsecs has failed its
// start, as supervisord says, and does not leave the container ready.
func TestReadyFileNotForListenThenCrash(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	port := testutil.FreePort(t)
	ready := filepath.Join(t.TempDir(), "ready")
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "web", Command: sh(fmt.Sprintf("%s timeout 0.5 %s httpd -f -p 127.0.0.1:%d -h /; exit 3", busybox, busybox, port)), StartSecs: 5},
		{Name: "worker", Command: sh("sleep 30"), StartSecs: 30},
	}}, envReady+"="+ready)
	s.waitLine(t, s.stderr, "web listens", 5*time.Second)
	if code := s.wait(t, 60*time.Second); code != 3 {
		t.Fatalf("exit status = %d, want 3 (web went FATAL)", code)
	}
	if _, err := os.Stat(ready); err == nil {
		t.Errorf("a server that kept dying within its startsecs left the container ready")
	}
}

// A server that fails its first start and listens after the retry still
// makes the container ready when it listens: the look for listening
// sockets goes on while a process waits to be started again.
func TestReadyFileWhenListeningAfterRetry(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	port := testutil.FreePort(t)
	dir := t.TempDir()
	ready, tried := filepath.Join(dir, "ready"), filepath.Join(dir, "tried")
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "web", Command: sh(fmt.Sprintf("if [ ! -e %s ]; then touch %s; exit 1; fi; exec %s httpd -f -p 127.0.0.1:%d -h /", tried, tried, busybox, port)), StartSecs: 20},
	}}, envReady+"="+ready)
	s.waitLine(t, s.stderr, "retrying", 5*time.Second)
	started := time.Now()
	s.waitLine(t, s.stderr, "all processes started", 10*time.Second)
	if d := time.Since(started); d > 10*time.Second {
		t.Errorf("ready %v after the retry, want as soon as web listens", d)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0", code)
	}
}

package supervise

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/manifest"
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

package supervise

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/manifest"
)

// The supervisor reaps every child with wait4(-1), so tests never run it
// inside the test binary: the binary re-executes itself as the supervisor
// (TestMain below), and the supervised programs are /bin/busybox.

const (
	envHelper = "ND_SUPERVISE_HELPER" // processes file to supervise
	envPasswd = "ND_SUPERVISE_PASSWD"
	envGroup  = "ND_SUPERVISE_GROUP"
	envMark   = "ND_SUPERVISE_TEST_MARK" // inherited by every process of one run
	envReady  = "ND_SUPERVISE_READY"     // Options.ReadyFile
	busybox   = "/bin/busybox"
)

func TestMain(m *testing.M) {
	if file := os.Getenv(envHelper); file != "" {
		os.Exit(helperMain(file))
	}
	os.Exit(m.Run())
}

func helperMain(file string) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(append([]os.Signal{}, StopSignals...), PassSignals...)...)
	procs, err := Load(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nd-init |", err)
		return ExitConfig
	}
	err = Run(context.Background(), procs, Options{
		Signals:    sigs,
		PasswdFile: os.Getenv(envPasswd),
		GroupFile:  os.Getenv(envGroup),
		RetryUnit:  100 * time.Millisecond,
		ReadyFile:  os.Getenv(envReady),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nd-init | run:", err)
	}
	return ExitCode(err)
}

// sh is a process command running script under busybox's shell.
func sh(script string) string { return busybox + " sh -c " + quote(script) }

// lines collects one stream of the supervisor, line by line.
type lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *lines) snapshot() ([]string, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...), l.changed
}

// supervisor is one run of the supervisor helper.
type runner struct {
	cmd            *exec.Cmd
	stdout, stderr *lines
	done           chan struct{}
	code           int
	ended          time.Time
}

func startSupervisor(t *testing.T, procs manifest.Processes, env ...string) *runner {
	t.Helper()
	if procs.Version == 0 {
		procs.Version = ProcessesVersion
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "processes.json")
	data, err := json.Marshal(procs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mark := fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+file, envMark+"="+mark)
	cmd.Env = append(cmd.Env, env...)
	outR, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting supervisor: %v", err)
	}
	s := &runner{cmd: cmd, stdout: newLines(), stderr: newLines(), done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, c := range []struct {
		r io.Reader
		l *lines
	}{{outR, s.stdout}, {errR, s.stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(c.r)
			sc.Buffer(make([]byte, 0, 1<<20), 1<<22)
			for sc.Scan() {
				c.l.add(sc.Text())
			}
		}()
	}
	go func() {
		wg.Wait()
		err := cmd.Wait()
		s.ended = time.Now()
		s.code = cmd.ProcessState.ExitCode()
		if err != nil && s.code == -1 {
			s.code = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill() //nolint:errcheck // best effort on a failed test
			<-s.done
		}
		if t.Failed() {
			out, _ := s.stdout.snapshot()
			errs, _ := s.stderr.snapshot()
			t.Logf("supervisor stdout:\n%s\nsupervisor stderr:\n%s", strings.Join(out, "\n"), strings.Join(errs, "\n"))
		}
		// Invariant: nothing of this run survives it.
		deadline := time.Now().Add(3 * time.Second)
		for {
			left := processesWithEnv(envMark + "=" + mark)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("processes left behind by the supervisor: %v", left)
				for _, pid := range left {
					syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // cleanup
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return s
}

// waitLine waits until a line of l contains substr.
func (s *runner) waitLine(t *testing.T, l *lines, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		all, changed := l.snapshot()
		for _, line := range all {
			if strings.Contains(line, substr) {
				return
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no line with %q within %s", substr, timeout)
		case <-s.done:
			all, _ := l.snapshot()
			for _, line := range all {
				if strings.Contains(line, substr) {
					return
				}
			}
			t.Fatalf("supervisor exited (status %d) without a line with %q", s.code, substr)
		}
	}
}

// wait waits for the supervisor to exit and returns its status.
func (s *runner) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		t.Fatalf("supervisor still running after %s", timeout)
		return 0
	}
}

func (s *runner) signal(t *testing.T, sig syscall.Signal) time.Time {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling supervisor: %v", err)
	}
	return time.Now()
}

// linesWith returns the lines of l that start with prefix, prefix removed.
func linesWith(l *lines, prefix string) []string {
	all, _ := l.snapshot()
	var out []string
	for _, line := range all {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// processesWithEnv lists live processes whose environment holds kv.
func processesWithEnv(kv string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, v := range strings.Split(string(data), "\x00") {
			if v == kv {
				out = append(out, pid)
			}
		}
	}
	return out
}

// zombieChildren lists the zombie children of pid.
func zombieChildren(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			p, _ := strconv.Atoi(e.Name())
			out = append(out, p)
		}
	}
	return out, nil
}

// requireRoot skips a test that needs root, but fails it in CI
// (ND_TEST_REQUIRE_ALL=1), as HELPERS.md asks.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("ND_TEST_REQUIRE_ALL") == "1" {
		t.Fatalf("needs root (%s), and ND_TEST_REQUIRE_ALL=1", why)
	}
	t.Skipf("needs root: %s", why)
}

func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(busybox); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("ND_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("needs %s (busybox-static), and ND_TEST_REQUIRE_ALL=1", busybox)
		}
		t.Skipf("needs %s (busybox-static)", busybox)
	}
}

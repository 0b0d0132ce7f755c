package supervise

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/manifest"
)

func TestOneshotsRunInOrderBeforeServices(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "svc", Command: sh("echo svc; exit 0"), AutoRestart: "false"},
		{Name: "first", Command: sh("sleep 0.3; echo first"), Oneshot: true},
		{Name: "second", Command: sh("echo second"), Oneshot: true},
	}})
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0", code)
	}
	all, _ := s.stdout.snapshot()
	want := []string{"first | first", "second | second", "svc | svc"}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestOneshotFailureFailsContainer(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "migrate", Command: sh("echo migrating; exit 3"), Oneshot: true},
		{Name: "never", Command: sh("echo never"), Oneshot: true},
		{Name: "svc", Command: sh("echo svc; sleep 10")},
	}})
	if code := s.wait(t, 10*time.Second); code != 3 {
		t.Fatalf("exit status = %d, want 3 (the oneshot's)", code)
	}
	all, _ := s.stdout.snapshot()
	if diff := cmp.Diff([]string{"migrate | migrating"}, all); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	s.waitLine(t, s.stderr, "nd-init | container failed: oneshot migrate exited with status 3", time.Second)
}

func TestMissingProgram(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	t.Run("oneshot", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "setup", Command: "/nonexistent/setup --flag", Oneshot: true},
		}})
		if code := s.wait(t, 10*time.Second); code != ExitNotFound {
			t.Fatalf("exit status = %d, want %d", code, ExitNotFound)
		}
	})
	t.Run("service", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "web", Command: "no-such-program-anywhere"},
		}})
		// Retried like any failed start, then FATAL.
		if code := s.wait(t, 10*time.Second); code != ExitNotFound {
			t.Fatalf("exit status = %d, want %d", code, ExitNotFound)
		}
		s.waitLine(t, s.stderr, "FATAL", time.Second)
	})
}

func TestOutputIsPrefixedPerLine(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	const long = 200000
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "one", Command: sh("for i in 1 2 3 4 5; do echo one $i; sleep 0.02; done; printf 'one partial'"), AutoRestart: "false"},
		{Name: "two", Command: sh("for i in 1 2 3 4 5; do echo two $i >&2; sleep 0.02; done; printf 'two partial' >&2"), AutoRestart: "false"},
		{Name: "long", Command: sh("head -c " + strconv.Itoa(long) + " /dev/zero | tr '\\0' x; echo; echo after"), AutoRestart: "false"},
	}})
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0", code)
	}
	wantOne := []string{"one 1", "one 2", "one 3", "one 4", "one 5", "one partial"}
	if diff := cmp.Diff(wantOne, linesWith(s.stdout, "one | ")); diff != "" {
		t.Errorf("stdout of one (-want +got):\n%s", diff)
	}
	wantTwo := []string{"two 1", "two 2", "two 3", "two 4", "two 5", "two partial"}
	if diff := cmp.Diff(wantTwo, linesWith(s.stderr, "two | ")); diff != "" {
		t.Errorf("stderr of two (-want +got):\n%s", diff)
	}
	if got := linesWith(s.stdout, "two | "); len(got) != 0 {
		t.Errorf("stderr of two leaked to stdout: %q", got)
	}
	var xs strings.Builder
	longLines := linesWith(s.stdout, "long | ")
	for _, l := range longLines[:len(longLines)-1] {
		xs.WriteString(l)
	}
	if got := xs.String(); len(got) != long || strings.Trim(got, "x") != "" {
		t.Errorf("long line came out as %d bytes in %d lines, want %d x's", len(got), len(longLines)-1, long)
	}
	if last := longLines[len(longLines)-1]; last != "after" {
		t.Errorf("line after the long one = %q, want %q", last, "after")
	}
	all, _ := s.stdout.snapshot()
	for _, l := range all {
		if !strings.HasPrefix(l, "one | ") && !strings.HasPrefix(l, "long | ") {
			t.Errorf("stdout line without a known prefix: %.80q", l)
		}
	}
}

func TestStopForwardsSignalThenKillsAfterGrace(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	const grace = 2 * time.Second
	s := startSupervisor(t, manifest.Processes{StopGracePeriod: 2, Processes: []manifest.Process{
		{Name: "polite", Command: sh("trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done")},
		{Name: "stubborn", Command: sh("trap '' TERM; echo ready; while :; do sleep 0.1; done")},
	}})
	s.waitLine(t, s.stdout, "polite | ready", 5*time.Second)
	s.waitLine(t, s.stdout, "stubborn | ready", 5*time.Second)
	sent := s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0 after a stop by signal", code)
	}
	took := s.ended.Sub(sent)
	if took < grace-200*time.Millisecond || took > grace+3*time.Second {
		t.Errorf("stop took %s, want about the grace period %s", took, grace)
	}
	s.waitLine(t, s.stdout, "polite | got TERM", time.Second)
	s.waitLine(t, s.stderr, "nd-init | stubborn killed by SIGKILL", time.Second)
}

func TestStopIsQuickWhenProcessesObey(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "a", Command: sh("trap 'echo got INT; exit 0' INT; echo ready; while :; do sleep 0.1; done")},
		{Name: "b", Command: busybox + " sleep 1000"},
	}})
	s.waitLine(t, s.stdout, "a | ready", 5*time.Second)
	s.waitLine(t, s.stderr, "started b", 5*time.Second)
	sent := s.signal(t, syscall.SIGINT)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
	if took := s.ended.Sub(sent); took > 1500*time.Millisecond {
		t.Errorf("stop took %s although every process obeys SIGINT (grace is 10s)", took)
	}
	s.waitLine(t, s.stdout, "a | got INT", time.Second)
}

func TestPassesOtherSignalsOn(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		{Name: "app", Command: sh("trap 'echo got HUP' HUP; trap 'echo got USR1' USR1; trap 'echo got USR2' USR2; echo ready; while :; do sleep 0.05; done")},
	}})
	s.waitLine(t, s.stdout, "app | ready", 5*time.Second)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2} {
		s.signal(t, sig)
		name := strings.TrimPrefix(sigName(sig), "SIG")
		s.waitLine(t, s.stdout, "app | got "+name, 5*time.Second)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
	if got := linesWith(s.stderr, "nd-init | started app"); len(got) != 1 {
		t.Errorf("app started %d times, want once (passed signals must not restart it)", len(got))
	}
}

func sigName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGHUP: "SIGHUP", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2"}[sig]
}

func TestReapsOrphanedGrandchildren(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
		// The shell exits at once; its background sleep becomes an orphan
		// that the supervisor (subreaper here, PID 1 in a container) inherits.
		{Name: "orphaner", Command: sh("sleep 0.7 >/dev/null 2>&1 & echo spawned"), Oneshot: true},
		{Name: "main", Command: sh("echo up; sleep 2; exit 7"), AutoRestart: "false"},
	}})
	s.waitLine(t, s.stdout, "main | up", 5*time.Second)
	pid := s.cmd.Process.Pid
	if kids := children(pid); len(kids) != 2 {
		t.Errorf("supervisor has children %v, want 2 (main and the orphan)", kids)
	}
	time.Sleep(1200 * time.Millisecond) // the orphan has exited by now
	zs, err := zombieChildren(pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 0 {
		t.Errorf("zombie children of the supervisor: %v", zs)
	}
	if kids := children(pid); len(kids) != 1 {
		t.Errorf("supervisor has children %v, want only main", kids)
		for _, k := range kids {
			b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(k), "stat"))
			t.Logf("%s", b)
		}
	}
	// Reaping orphans must not steal the status of a supervised process.
	if code := s.wait(t, 10*time.Second); code != 7 {
		t.Errorf("exit status = %d, want 7 (main's)", code)
	}
}

// children lists the children of pid, in any state.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			p, _ := strconv.Atoi(e.Name())
			out = append(out, p)
		}
	}
	return out
}

func TestAutoRestart(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	// counting runs the script's "run N" and exits with the status given
	// for that run (the last one repeats).
	counting := func(t *testing.T, statuses ...int) string {
		f := filepath.Join(t.TempDir(), "n")
		var cases strings.Builder
		for i, st := range statuses {
			cases.WriteString(strconv.Itoa(i+1) + ") exit " + strconv.Itoa(st) + ";; ")
		}
		return sh("n=$(cat " + f + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + f + "; echo run $n; " +
			"case $n in " + cases.String() + "*) exit " + strconv.Itoa(statuses[len(statuses)-1]) + ";; esac")
	}
	tests := []struct {
		name        string
		autorestart string
		statuses    []int
		wantRuns    int
		wantCode    int
	}{
		{"false exit 0", "false", []int{0}, 1, 0},
		{"false exit 3", "false", []int{3}, 1, 3},
		{"unexpected exit 0", "unexpected", []int{0}, 1, 0},
		{"unexpected until 0", "unexpected", []int{1, 2, 0}, 3, 0},
		{"default is unexpected", "", []int{1, 0}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
				{Name: "p", Command: counting(t, tt.statuses...), AutoRestart: tt.autorestart},
			}})
			if code := s.wait(t, 10*time.Second); code != tt.wantCode {
				t.Errorf("exit status = %d, want %d", code, tt.wantCode)
			}
			if got := linesWith(s.stdout, "p | run "); len(got) != tt.wantRuns {
				t.Errorf("runs = %q, want %d", got, tt.wantRuns)
			}
		})
	}
	t.Run("true restarts even after exit 0", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "p", Command: counting(t, 0), AutoRestart: "true"},
		}})
		s.waitLine(t, s.stdout, "p | run 4", 10*time.Second)
		s.signal(t, syscall.SIGTERM)
		if code := s.wait(t, 10*time.Second); code != 0 {
			t.Errorf("exit status = %d, want 0", code)
		}
		// Backoff (unit 100ms here): immediate, then 100ms, 200ms, ...
		s.waitLine(t, s.stderr, "p exited with status 0; restarting in 0s", time.Second)
		s.waitLine(t, s.stderr, "p exited with status 0; restarting in 100ms", time.Second)
		s.waitLine(t, s.stderr, "p exited with status 0; restarting in 200ms", time.Second)
	})
	t.Run("unexpected restarts after a signal death", func(t *testing.T) {
		t.Parallel()
		f := filepath.Join(t.TempDir(), "n")
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "p", Command: sh("if [ -e " + f + " ]; then echo second; exit 0; fi; touch " + f + "; echo first; kill -KILL $$")},
		}})
		if code := s.wait(t, 10*time.Second); code != 0 {
			t.Errorf("exit status = %d, want 0", code)
		}
		if diff := cmp.Diff([]string{"first", "second"}, linesWith(s.stdout, "p | ")); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		s.waitLine(t, s.stderr, "p killed by SIGKILL; restarting", time.Second)
	})
	t.Run("container waits for the others", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "quick", Command: sh("exit 4"), AutoRestart: "false"},
			{Name: "slow", Command: sh("sleep 0.5; echo slow done; exit 0"), AutoRestart: "false"},
		}})
		// The first non-zero status wins, but only once everything ended.
		if code := s.wait(t, 10*time.Second); code != 4 {
			t.Errorf("exit status = %d, want 4", code)
		}
		s.waitLine(t, s.stdout, "slow | slow done", time.Second)
	})
}

func TestStartSecsAndFatal(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	t.Run("too quick is fatal after retries", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "flaky", Command: sh("echo try; exit 5"), StartSecs: 1, AutoRestart: "true"},
			{Name: "other", Command: busybox + " sleep 1000"},
		}})
		if code := s.wait(t, 10*time.Second); code != 5 {
			t.Errorf("exit status = %d, want 5 (flaky's last)", code)
		}
		if got := linesWith(s.stdout, "flaky | "); len(got) != 1+StartRetries {
			t.Errorf("flaky ran %d times, want %d", len(got), 1+StartRetries)
		}
		s.waitLine(t, s.stderr, "giving up (FATAL)", time.Second)
		s.waitLine(t, s.stderr, "nd-init | other killed by SIGTERM", time.Second)
	})
	t.Run("quick exit 0 is a failed start too", func(t *testing.T) {
		t.Parallel()
		// autorestart=false does not matter for a start that failed.
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "flaky", Command: sh("echo try"), StartSecs: 1, AutoRestart: "false"},
		}})
		if code := s.wait(t, 10*time.Second); code != 1 {
			t.Errorf("exit status = %d, want 1", code)
		}
		if got := linesWith(s.stdout, "flaky | "); len(got) != 1+StartRetries {
			t.Errorf("flaky ran %d times, want %d", len(got), 1+StartRetries)
		}
	})
	t.Run("a run past startsecs resets the count", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "slow", Command: sh("echo run; sleep 1.2; exit 1"), StartSecs: 1},
		}})
		s.waitLine(t, s.stdout, "slow | run", 5*time.Second)
		time.Sleep(2600 * time.Millisecond) // two or three runs
		s.signal(t, syscall.SIGTERM)
		if code := s.wait(t, 10*time.Second); code != 0 {
			t.Errorf("exit status = %d, want 0", code)
		}
		if got := linesWith(s.stdout, "slow | run"); len(got) < 2 {
			t.Errorf("slow ran %d times, want at least 2", len(got))
		}
		if got := linesWith(s.stderr, "nd-init | slow exited with status 1; restarting"); len(got) < 1 {
			t.Errorf("no restart logged for a process that passed startsecs")
		}
	})
}

func TestEnvironmentDirectoryAndUser(t *testing.T) {
	requireBusybox(t)
	t.Parallel()
	t.Run("environment and directory", func(t *testing.T) {
		t.Parallel()
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{{
			Name:        "env",
			Command:     sh("pwd; echo $GREETING $HOME; echo mark=${" + envMark + ":+set}"),
			Directory:   "/tmp",
			Environment: map[string]string{"GREETING": "hello world", "HOME": "/override"},
			AutoRestart: "false",
		}}})
		if code := s.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit status = %d, want 0", code)
		}
		want := []string{"/tmp", "hello world /override", "mark=set"}
		if diff := cmp.Diff(want, linesWith(s.stdout, "env | ")); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
	t.Run("user nobody", func(t *testing.T) {
		requireRoot(t, "switching to user nobody")
		t.Parallel()
		passwd, group := writeUserFiles(t)
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{{
			Name:        "who",
			Command:     sh("echo $HOME $USER $LOGNAME; id -u; id -g; id -G"),
			User:        "nobody",
			Directory:   "/",
			AutoRestart: "false",
		}}}, envPasswd+"="+passwd, envGroup+"="+group)
		if code := s.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit status = %d, want 0", code)
		}
		want := []string{"/nonexistent nobody nobody", "65534", "65534", "65534 4242"}
		if diff := cmp.Diff(want, linesWith(s.stdout, "who | ")); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
	t.Run("unknown user is a config error", func(t *testing.T) {
		t.Parallel()
		passwd, group := writeUserFiles(t)
		s := startSupervisor(t, manifest.Processes{Processes: []manifest.Process{
			{Name: "who", Command: sh("echo should not run"), User: "ghost"},
		}}, envPasswd+"="+passwd, envGroup+"="+group)
		if code := s.wait(t, 10*time.Second); code != ExitConfig {
			t.Fatalf("exit status = %d, want %d", code, ExitConfig)
		}
		if out, _ := s.stdout.snapshot(); len(out) != 0 {
			t.Errorf("stdout = %q, want nothing started", out)
		}
	})
}

// Run rejects bad files before starting anything, so it is safe to call
// in-process here.
func TestRunRejectsBadProcesses(t *testing.T) {
	ok := manifest.Process{Name: "a", Command: "/bin/true"}
	tests := []struct {
		name  string
		procs manifest.Processes
	}{
		{"version", manifest.Processes{Version: 2, Processes: []manifest.Process{ok}}},
		{"no version", manifest.Processes{Processes: []manifest.Process{ok}}},
		{"duplicate", manifest.Processes{Version: 1, Processes: []manifest.Process{ok, ok}}},
		{"empty name", manifest.Processes{Version: 1, Processes: []manifest.Process{{Command: "x"}}}},
		{"name with bar", manifest.Processes{Version: 1, Processes: []manifest.Process{{Name: "a|b", Command: "x"}}}},
		{"empty command", manifest.Processes{Version: 1, Processes: []manifest.Process{{Name: "a", Command: "  "}}}},
		{"unclosed quote", manifest.Processes{Version: 1, Processes: []manifest.Process{{Name: "a", Command: "x 'y"}}}},
		{"autorestart", manifest.Processes{Version: 1, Processes: []manifest.Process{{Name: "a", Command: "x", AutoRestart: "always"}}}},
		{"startsecs", manifest.Processes{Version: 1, Processes: []manifest.Process{{Name: "a", Command: "x", StartSecs: -1}}}},
		{"grace", manifest.Processes{Version: 1, StopGracePeriod: -1, Processes: []manifest.Process{ok}}},
		{"unknown user", manifest.Processes{Version: 1, Processes: []manifest.Process{{Name: "a", Command: "x", User: "ghost-user-of-nd"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), &tt.procs, Options{PasswdFile: filepath.Join(t.TempDir(), "none")})
			if err == nil {
				t.Fatalf("Run accepted %+v", tt.procs)
			}
			if code := ExitCode(err); code != ExitConfig {
				t.Errorf("ExitCode(%v) = %d, want %d", err, code, ExitConfig)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"version":1,"stopGracePeriod":3,"processes":[{"name":"web","command":"/bin/web --port 80","autorestart":"true","startsecs":2}]}`), 0o644)
	p, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &manifest.Processes{Version: 1, StopGracePeriod: 3, Processes: []manifest.Process{{Name: "web", Command: "/bin/web --port 80", AutoRestart: "true", StartSecs: 2}}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version":1,"processes":[`), 0o644)
	if _, err := Load(bad); err == nil {
		t.Errorf("Load of truncated JSON: want an error")
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Errorf("Load of a missing file: want an error")
	}
}

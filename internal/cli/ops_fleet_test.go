package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
	"github.com/nd-project/nd/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// nd runs `nd-push SUB [ssh flags] ARGS...` against the droplet.
func (e *deployEnv) nd(t testing.TB, ctx context.Context, sub string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{sub, "-F", e.d.SSHConfig(), "--agent-path", e.bins["nd-agent@droplet"]}, args...)
	code := Run(ctx, all, &out, &errb)
	t.Logf("nd-push %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(all, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

// opsApp is versionedApp (app "upd", port 8090, volume /data) with a secret
// env file, busybox on PATH for exec, and a process that logs a tick.
func opsApp(t *testing.T, dir, version string) string {
	t.Helper()
	return versionedApp(t, dir, version, fmt.Sprintf(`
  docker.environmentFiles = [ "secret.env" ];
  docker.env.PATH = "${pkgs.busybox}/bin";
  supervisord.services.ticker.command = "${pkgs.runtimeShell} -c 'while true; do echo tick-%s; sleep 1; done'";
`, version))
}

func writeSecretEnv(t *testing.T, dir, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "secret.env"), []byte("# test secret\nND_SECRET="+value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 12)
	rand.Read(b)
	return "s3cr3t-" + hex.EncodeToString(b)
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

// TestOperate runs the operations on one droplet, in order: pushes with a
// secret, a bad deploy, rollbacks, a secret-only change, two apps, status
// (golden), logs, exec, secrets' absence, concurrent pushes, rm, and a
// non-root login.
func TestOperate(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	ctx := context.Background()
	dir := t.TempDir()
	host := e.d.Name
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	secret1, secret2 := randomSecret(t), randomSecret(t)
	writeSecretEnv(t, dir, secret1)
	var allOutput strings.Builder // everything nd-push printed, checked for secrets
	run := func(sub string, args ...string) (int, string, string) {
		t.Helper()
		code, out, errOut := e.nd(t, ctx, sub, args...)
		allOutput.WriteString(out + errOut)
		return code, out, errOut
	}
	push := func(args ...string) (int, string, string) {
		t.Helper()
		code, out, errOut := e.push(t, args...)
		allOutput.WriteString(out + errOut)
		return code, out, errOut
	}
	answer := func() string { return strings.TrimSpace(get(t, url)) }
	label := func(l string) string {
		return e.docker(t, "inspect", "-f", `{{index .Config.Labels "`+l+`"}}`, "nd-upd")
	}

	// Generations 1 and 2, then a bad deploy that records nothing.
	if code, _, _ := push(host, opsApp(t, dir, "v1")); code != 0 {
		t.Fatalf("deploying v1 exited %d", code)
	}
	if code, out, _ := push(host, opsApp(t, dir, "v2")); code != 0 || !strings.Contains(out, "generation 2") {
		t.Fatalf("deploying v2 exited %d: %q", code, out)
	}
	bad := `supervisord.services.migrate = { command = "${pkgs.busybox}/bin/busybox false"; oneshot = true; };`
	if code, _, _ := push(host, versionedApp(t, dir, "v3", bad+`docker.environmentFiles = [ "secret.env" ];`)); code == 0 {
		t.Fatalf("deploying a crashing v3 succeeded")
	}
	if got := answer(); got != "v2 v1" {
		t.Fatalf("after the bad deploy the app answered %q, want v2 v1", got)
	}

	t.Run("rollback", func(t *testing.T) {
		code, out, _ := run("rollback", host, "upd")
		if code != 0 || !strings.Contains(out, "generation 3") {
			t.Fatalf("rollback exited %d: %q, want generation 3", code, out)
		}
		if got := answer(); got != "v1 v1" {
			t.Errorf("after the rollback the app answered %q, want v1 v1", got)
		}
		if code, out, _ = run("rollback", host, "upd", "2"); code != 0 || !strings.Contains(out, "generation 4") {
			t.Fatalf("rollback to 2 exited %d: %q, want generation 4", code, out)
		}
		if got := answer(); got != "v2 v1" {
			t.Errorf("after the rollback to 2 the app answered %q, want v2 v1", got)
		}
		if g := label("nd.generation"); g != "4" {
			t.Errorf("container generation %q, want 4", g)
		}
		code, _, errOut := run("rollback", host, "upd", "99")
		if code != 1 {
			t.Errorf("rollback to a generation that never was exited %d, want 1", code)
		}
		mustContain(t, "rollback 99 error", errOut, "no generation 99", "available", "(current)")
	})

	t.Run("secret change alone redeploys", func(t *testing.T) {
		writeSecretEnv(t, dir, secret2)
		code, out, _ := push(host, opsApp(t, dir, "v2"))
		if code != 0 || !strings.Contains(out, "generation 5") || strings.Contains(out, "already running") {
			t.Fatalf("push with a changed secret exited %d: %q, want a new generation 5", code, out)
		}
		code, out, _ = run("exec", host, "upd", "--", "busybox", "env")
		if code != 0 {
			t.Fatalf("exec env exited %d", code)
		}
		mustContain(t, "env in the container", out, "ND_SECRET="+secret2)
		// Generation 1 was pruned (3 kept besides the current): a clear error.
		code, _, errOut := run("rollback", host, "upd", "1")
		if code != 1 {
			t.Errorf("rollback to a pruned generation exited %d, want 1", code)
		}
		mustContain(t, "rollback 1 error", errOut, "no generation 1", "garbage-collected", "  2  ", "  5  ")
		// The files on the host are root's alone.
		perms, err := e.d.Exec(ctx, "sh", "-c", "stat -c '%a %n' /var/lib/nd-agent/apps/upd/secrets /var/lib/nd-agent/apps/upd/secrets/* /var/lib/nd-agent/apps/upd/secrets/*/*")
		if err != nil {
			t.Fatalf("stat secrets: %v %s", err, perms)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(perms)), "\n") {
			if !strings.HasPrefix(l, "700 ") && !strings.HasPrefix(l, "600 ") {
				t.Errorf("secret file or dir %q: want mode 700 (dirs) or 600 (files)", l)
			}
		}
	})

	// A second app on the same host.
	if code, _, _ := push(host, e.example("hello")); code != 0 {
		t.Fatalf("deploying hello exited %d", code)
	}

	t.Run("status", func(t *testing.T) {
		code, table, _ := run("status", host)
		if code != 0 {
			t.Fatalf("status exited %d", code)
		}
		mustContain(t, "status table", table, "APP", "hello", "upd", "running", "healthy", "8080->8080/tcp", "8090->8090/tcp")
		code, js, _ := run("status", "--json", host)
		if code != 0 {
			t.Fatalf("status --json exited %d", code)
		}
		var st StatusJSON
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, js)
		}
		normalizeStatus(&st)
		var got bytes.Buffer
		enc := json.NewEncoder(&got)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		golden(t, "status.json", got.Bytes())
		var tb bytes.Buffer
		printStatus(&tb, st)
		golden(t, "status.txt", tb.Bytes())
		if code, _, errOut := run("status", host, "nope"); code != 1 || !strings.Contains(errOut, "not deployed") {
			t.Errorf("status of an unknown app exited %d: %q", code, errOut)
		}
	})

	t.Run("logs", func(t *testing.T) {
		code, out, _ := run("logs", "--tail", "3", host, "upd")
		if code != 0 || !strings.Contains(out, "tick-v2") {
			t.Fatalf("logs exited %d: %q, want ticks", code, out)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n > 3 {
			t.Errorf("logs --tail 3 printed %d lines", n)
		}
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var buf testutil.SyncBuffer
		done := make(chan int, 1)
		go func() {
			done <- Run(fctx, []string{"logs", "-F", e.d.SSHConfig(), "-f", "--tail", "0", host, "upd"}, &buf, &buf)
		}()
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(buf.String(), "tick-v2") < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("logs -f printed %q in 15 s, want new ticks", buf.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("logs -f exited %d after Ctrl-C, want 0: %q", code, buf.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("logs -f did not stop within 10 s of its cancellation")
		}
		allOutput.WriteString(buf.String())
	})

	t.Run("logs since and timestamps", func(t *testing.T) {
		code, out, _ := run("logs", "--since", "3s", "--timestamps", host, "upd")
		if code != 0 || !strings.Contains(out, "tick-v2") {
			t.Fatalf("logs --since 3s exited %d: %q, want ticks", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// One tick a second: the last 3 s hold a few, not the whole log.
		if len(lines) > 6 {
			t.Errorf("logs --since 3s printed %d lines, want only the last seconds' ticks", len(lines))
		}
		for _, l := range lines {
			ts, _, _ := strings.Cut(l, " ")
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("logs --timestamps line %q does not start with an RFC 3339 time", l)
			}
		}
		if code, out, _ := run("logs", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), host, "upd"); code != 0 || out != "" {
			t.Errorf("logs --since an hour ahead exited %d: %q, want nothing", code, out)
		}
	})

	t.Run("history", func(t *testing.T) {
		code, out, _ := run("history", host, "upd")
		if code != 0 {
			t.Fatalf("history exited %d", code)
		}
		mustContain(t, "history", out, "GEN", "PACKAGE", "BY", "MODE", "5 *", "host-store", "rollback to 2", pushedBy())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 || !strings.HasPrefix(lines[1], "5 *") || !strings.HasPrefix(lines[4], "2 ") {
			t.Errorf("history = %q, want generations 5 (current) to 2, newest first", out)
		}
		if code, _, errOut := run("history", host, "nope"); code != 1 || !strings.Contains(errOut, "not deployed") {
			t.Errorf("history of an unknown app exited %d: %q", code, errOut)
		}
	})

	t.Run("stop start restart", func(t *testing.T) {
		started := func() string {
			return e.docker(t, "inspect", "-f", "{{.State.Status}} {{.State.StartedAt}}", "nd-upd")
		}
		before := started()
		code, out, _ := run("stop", host, "upd")
		if code != 0 || !strings.Contains(out, "upd exited (generation 5") {
			t.Fatalf("stop exited %d: %q", code, out)
		}
		if st := started(); !strings.HasPrefix(st, "exited") {
			t.Errorf("after stop the container is %q", st)
		}
		if code, out, _ = run("start", host, "upd"); code != 0 || !strings.Contains(out, "upd running (generation 5") {
			t.Fatalf("start exited %d: %q", code, out)
		}
		if got := answer(); got != "v2 v1" {
			t.Errorf("after start the app answered %q, want v2 v1", got)
		}
		mid := started()
		if code, out, _ = run("restart", host, "upd"); code != 0 || !strings.Contains(out, "upd running") {
			t.Fatalf("restart exited %d: %q", code, out)
		}
		if after := started(); after == mid || mid == before {
			t.Errorf("start times %q, %q, %q: want a new start each time", before, mid, after)
		}
		if code, _, errOut := run("restart", host, "nope"); code != 1 || !strings.Contains(errOut, "no container") {
			t.Errorf("restart of an unknown app exited %d: %q", code, errOut)
		}
	})

	t.Run("exec", func(t *testing.T) {
		code, out, errOut := run("exec", host, "upd", "--", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
		if code != 3 {
			t.Errorf("exec exited %d, want the command's 3", code)
		}
		if out != "out\n" || !strings.Contains(errOut, "err") {
			t.Errorf("exec printed %q / %q, want out / err", out, errOut)
		}
		// Stdin with -i.
		var o, eb bytes.Buffer
		env := &Env{Stdin: strings.NewReader("hello stdin\n"), Stdout: &o, Stderr: &eb, Log: hclog.NewNullLogger()}
		err := runExec(ctx, env, &execOptions{ssh: sshFlags{ConfigFile: e.d.SSHConfig(), AgentSocket: "/run/nd-agent/agent.sock", AgentPath: "nd-agent"},
			Interactive: true, Host: host, App: "upd", Cmd: []string{"busybox", "cat"}})
		if err != nil || o.String() != "hello stdin\n" {
			t.Errorf("exec -i cat: %v, printed %q", err, o.String())
		}
		// With a terminal (what nd-push asks for when stdin is one): the
		// command sees a tty of the requested size.
		h, err := connect(ctx, env, &sshFlags{ConfigFile: e.d.SSHConfig(), AgentSocket: "/run/nd-agent/agent.sock"}, host)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		var tty bytes.Buffer
		code, err = h.agent.Exec(ctx, proto.Exec{App: "upd", Cmd: []string{"busybox", "sh", "-c", "sleep 0.5; busybox stty size; test -t 0 && echo tty"}, TTY: true, Rows: 33, Cols: 111},
			agentclient.ExecIO{Stdout: &tty, Stderr: &tty})
		if err != nil || code != 0 || !strings.Contains(tty.String(), "33 111") || !strings.Contains(tty.String(), "tty") {
			t.Errorf("exec with a terminal: code %d, %v, printed %q; want size 33 111 and a tty", code, err, tty.String())
		}
		// A resize reaches the command's terminal while it runs.
		tty.Reset()
		resize := make(chan proto.Resize, 1)
		resize <- proto.Resize{Rows: 41, Cols: 99}
		code, err = h.agent.Exec(ctx, proto.Exec{App: "upd", Cmd: []string{"busybox", "sh", "-c", "sleep 1; busybox stty size; exit 3"}, TTY: true, Rows: 33, Cols: 111},
			agentclient.ExecIO{Stdout: &tty, Resize: resize})
		if err != nil || code != 3 || !strings.Contains(tty.String(), "41 99") {
			t.Errorf("exec with a resized terminal: code %d, %v, printed %q; want size 41 99 and exit code 3", code, err, tty.String())
		}
		// The real binary with a terminal as its stdin (script(1) gives it
		// a pty): nd-push puts it in raw mode, the command gets a tty, and
		// its exit status comes back through nd-push.
		if _, err := exec.LookPath("script"); err == nil {
			line := testutilBuild(t) + " exec -F " + e.d.SSHConfig() + " " + host + " upd -- busybox sh -c 'test -t 0 && echo tty-yes; exit 5'"
			cmd := exec.Command("script", "-qec", line, "/dev/null")
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 5 || !strings.Contains(string(out), "tty-yes") {
				t.Errorf("nd-push exec on a terminal: %v, printed %q; want a tty in the container and exit status 5", err, out)
			}
		} else {
			testutil.Require(t, false, "needs script(1) (bsdutils) for the terminal exec test")
		}
		if code, _, errOut := run("exec", host, "nope", "--", "true"); code != 1 || !strings.Contains(errOut, "no container") {
			t.Errorf("exec in an unknown app exited %d: %q", code, errOut)
		}
	})

	t.Run("secrets stay out of the stores, status and logs", func(t *testing.T) {
		for _, s := range []string{secret1, secret2} {
			if out, err := exec.Command("grep", "-rlF", s, "/nix/store").CombinedOutput(); err == nil {
				t.Errorf("the laptop's /nix/store holds the secret: %s", out)
			}
			if out, err := e.d.Exec(ctx, "grep", "-rlF", s, "/nix/store"); err == nil {
				t.Errorf("the host's /nix/store holds the secret: %s", out)
			}
			agentLog, _ := os.ReadFile(e.d.LogFile("nd-agent"))
			if bytes.Contains(agentLog, []byte(s)) {
				t.Errorf("nd-agent's log holds the secret")
			}
			// nd-push's output: all but the exec of env, which printed it on purpose.
			text := strings.Replace(allOutput.String(), "ND_SECRET="+secret2, "", 1)
			if strings.Contains(text, s) {
				t.Errorf("nd-push printed the secret (status, logs or push output)")
			}
		}
	})

	t.Run("concurrent pushes are serialized", func(t *testing.T) {
		pkgs := map[string]string{}
		for _, v := range []string{"vA", "vB"} {
			var out, errb bytes.Buffer
			if code := Run(ctx, []string{"build", opsApp(t, dir, v)}, &out, &errb); code != 0 {
				t.Fatalf("building %s exited %d: %s", v, code, errb.String())
			}
			pkgs[v] = strings.TrimSpace(out.String())
		}
		logFile := e.d.LogFile("nd-agent")
		starts := func() int {
			b, _ := os.ReadFile(logFile)
			return strings.Count(string(b), "starting new container")
		}
		before := starts()
		type result struct {
			code        int
			out, errOut string
		}
		resA := make(chan result, 1)
		go func() {
			c, o, eo := e.push(t, host, pkgs["vA"])
			resA <- result{c, o, eo}
		}()
		// Push B once A's container is starting: A holds the app's lock.
		deadline := time.Now().Add(60 * time.Second)
		for starts() == before {
			if time.Now().After(deadline) {
				t.Fatalf("push A never started its container")
			}
			time.Sleep(20 * time.Millisecond)
		}
		codeB, outB, errB := e.push(t, host, pkgs["vB"])
		a := <-resA
		if a.code != 0 || codeB != 0 {
			t.Fatalf("concurrent pushes exited %d and %d, want both 0", a.code, codeB)
		}
		mustContain(t, "push A", a.out, "generation 6")
		mustContain(t, "push B", outB, "generation 7")
		mustContain(t, "push B's messages", errB, "waiting for it")
		if p, g := label("nd.package"), label("nd.generation"); p != pkgs["vB"] || g != "7" {
			t.Errorf("final container runs %s generation %s, want %s generation 7", p, g, pkgs["vB"])
		}
		if got := answer(); got != "vB v1" {
			t.Errorf("after both pushes the app answered %q, want vB v1", got)
		}
		// The last push's old container drains for 2 s after its reply.
		names := e.docker(t, "ps", "-a", "--format", "{{.Names}}")
		for deadline := time.Now().Add(15 * time.Second); strings.Contains(names, ".prev") && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			names = e.docker(t, "ps", "-a", "--format", "{{.Names}}")
		}
		if strings.Contains(names, ".new") || strings.Contains(names, ".prev") {
			t.Errorf("containers after concurrent pushes: %q, want no leftovers", names)
		}
	})

	t.Run("rm", func(t *testing.T) {
		code, out, _ := run("rm", host, "upd")
		if code != 0 {
			t.Fatalf("rm exited %d", code)
		}
		mustContain(t, "rm output", out, "volumes kept")
		if _, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "inspect", "nd-upd"); err == nil {
			t.Errorf("the container survived rm")
		}
		for _, p := range []string{"/nix/var/nix/gcroots/nd-agent/upd", "/var/lib/nd-agent/apps/upd"} {
			if _, err := e.d.Exec(ctx, "test", "-e", p); err == nil {
				t.Errorf("%s survived rm", p)
			}
		}
		vol := manifest.VolumeName("upd", "data")
		if v := e.docker(t, "volume", "ls", "-q"); !strings.Contains(v, vol) {
			t.Errorf("volumes after rm: %q, want %s kept", v, vol)
		}
		if !strings.Contains(get(t, "http://"+e.d.Addr+":8080/"), "hello from nd") {
			t.Errorf("hello stopped answering after rm of upd")
		}
		// A new start: generation 1 again, the kept volume's data still there.
		if code, out, _ := push(host, opsApp(t, dir, "v2")); code != 0 || !strings.Contains(out, "generation 1") {
			t.Fatalf("push after rm exited %d: %q, want generation 1", code, out)
		}
		if got := answer(); got != "v2 v1" {
			t.Errorf("after rm and push the app answered %q, want v2 v1 (volume kept)", got)
		}
		if code, _, _ := run("rm", "--volumes", "--yes", host, "upd"); code != 0 {
			t.Fatalf("rm --volumes exited %d", code)
		}
		if v := e.docker(t, "volume", "ls", "-q"); strings.Contains(v, vol) {
			t.Errorf("volumes after rm --volumes: %q, want %s gone", v, vol)
		}
		if code, _, errOut := run("rm", host, "upd"); code != 1 || !strings.Contains(errOut, "not deployed") {
			t.Errorf("rm of a removed app exited %d: %q", code, errOut)
		}
	})

	t.Run("non-root login with sudo", func(t *testing.T) {
		_, err := exec.LookPath("sudo")
		testutil.Require(t, err == nil, "sudo is not installed (scripts/setup.sh installs it)")
		// /etc is the droplet's own overlay; the droplet's sshd accepts the
		// fleet's client key for every user.
		setup := `set -e
useradd -M -d /var/lib/deploy -s /bin/sh -p '*' deploy
echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy
chmod 0440 /etc/sudoers.d/deploy`
		if out, err := e.d.Exec(ctx, "sh", "-c", setup); err != nil {
			t.Fatalf("adding user deploy: %v\n%s", err, out)
		}
		user := "deploy@" + host
		writeSecretEnv(t, dir, secret1)
		if code, out, _ := push(user, opsApp(t, dir, "v1")); code != 0 || !strings.Contains(out, "generation 1") {
			t.Fatalf("push as deploy exited %d: %q", code, out)
		}
		if code, out, _ := run("exec", user, "upd", "--", "busybox", "env"); code != 0 || !strings.Contains(out, "ND_SECRET="+secret1) {
			t.Errorf("exec as deploy exited %d, want the secret in the env", code)
		}
		if code, out, _ := run("status", user, "upd"); code != 0 || !strings.Contains(out, "upd") {
			t.Errorf("status as deploy exited %d: %q", code, out)
		}
		if code, _, _ := run("rm", "--volumes", "--yes", user, "upd"); code != 0 {
			t.Errorf("rm as deploy exited %d", code)
		}
	})

	t.Run("non-root login in the agent's group", func(t *testing.T) {
		setup := `set -e
groupadd ndops
useradd -M -d /var/lib/member -s /bin/sh -p '*' -G ndops member`
		if out, err := e.d.Exec(ctx, "sh", "-c", setup); err != nil {
			t.Fatalf("adding user member: %v\n%s", err, out)
		}
		if err := e.d.Stop(ctx, "nd-agent"); err != nil {
			t.Fatal(err)
		}
		if err := e.d.Start(ctx, "nd-agent", e.bins["nd-agent@droplet"], "serve", "--group", "ndops"); err != nil {
			t.Fatal(err)
		}
		e.waitAgent(t)
		user := "member@" + host
		if code, out, _ := run("status", user); code != 0 || !strings.Contains(out, "hello") {
			t.Errorf("status as a member of the agent's group exited %d: %q", code, out)
		}
		if code, out, _ := push(user, e.example("hello")); code != 0 || !strings.Contains(out, "already running") {
			t.Errorf("push as a member of the agent's group exited %d: %q", code, out)
		}
		// Secrets need root on the host (sudo): a clear error, nothing deployed.
		code, _, errOut := push(user, opsApp(t, dir, "v1"))
		if code != 1 || !strings.Contains(errOut, "sudo") {
			t.Errorf("push with secrets as member (no sudo) exited %d: %q, want an error naming sudo", code, errOut)
		}
	})
}

var (
	storeHash     = regexp.MustCompile(`/nix/store/[0-9a-z]{32}-`)
	containerAddr = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:`)
)

// normalizeStatus replaces what differs between runs.
func normalizeStatus(st *StatusJSON) {
	st.Host = "HOST"
	t := func(s *string) {
		if *s != "" {
			*s = "TIME"
		}
	}
	for i := range st.Apps {
		a := &st.Apps[i]
		a.Package = storeHash.ReplaceAllString(a.Package, "/nix/store/HASH-")
		a.PushedBy = "USER@LAPTOP"
		t(&a.DeployedAt)
		if c := a.Container; c != nil {
			c.ID = "ID"
			t(&c.StartedAt)
			for k := range c.Routes {
				c.Routes[k] = containerAddr.ReplaceAllString(c.Routes[k], "ADDR:")
			}
		}
		for j := range a.Generations {
			g := &a.Generations[j]
			g.Package = storeHash.ReplaceAllString(g.Package, "/nix/store/HASH-")
			g.PushedBy = "USER@LAPTOP"
			t(&g.DeployedAt)
		}
	}
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", p, diff)
	}
}

package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
	"github.com/nd-project/nd/systemd"
)

// TestInstallAgentSystemd installs nd-agent as a systemd unit on a modern
// droplet (systemd 262 as PID 1, Docker 28 with the classic image store,
// Debian's Nix 2.34), deploys examples/hello, and checks that the app serves
// again, with no push, after each of: an upgrade of the agent in place with
// the app running, systemctl restart docker, kill -9 of the agent, and a
// reboot of the droplet. After each, the agent answers a push with "already
// running".
func TestInstallAgentSystemd(t *testing.T) {
	testutil.RequireRoot(t)
	bins := testutil.BuildBinaries(t, "nd-agent", "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	d := fleet.ForTest(t, 1, fleet.Options{Kind: fleet.Modern, Nix: true})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	install := func() (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		args := []string{"install-agent", "-F", d.SSHConfig(), "--agent-binary", bins["nd-agent"], d.Name}
		code := Run(ctx, args, &out, &errb)
		t.Logf("nd-push %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		return code, out.String()
	}
	systemctl := func(args ...string) string {
		t.Helper()
		out, err := d.Systemctl(ctx, args...)
		if err != nil {
			t.Fatalf("systemctl %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	// agentPID waits until nd-agent.service is active with a main PID other
	// than not, and returns it.
	agentPID := func(not string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			active, _ := d.Systemctl(ctx, "is-active", "nd-agent.service")
			pid := systemctl("show", "-P", "MainPID", "nd-agent.service")
			if strings.TrimSpace(string(active)) == "active" && pid != "0" && pid != not {
				return pid
			}
			if time.Now().After(deadline) {
				st, _ := d.Systemctl(ctx, "status", "--no-pager", "nd-agent.service")
				t.Fatalf("nd-agent.service not active with a new main PID (had %s):\n%s", not, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	e := &deployEnv{d: d, root: root, bins: map[string]string{"nd-agent@droplet": systemd.DefaultAgentPath, "nd-init": bins["nd-init"]}}
	serves := func(after string) {
		t.Helper()
		if body := get(t, "http://"+d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
			t.Errorf("after %s the app answered %q", after, body)
		}
		if code, out, _ := e.push(t, d.Name, e.example("hello")); code != 0 || !strings.Contains(out, "already running") {
			t.Errorf("push after %s: exit %d, %q; want the app already running", after, code, out)
		}
	}

	code, out := install()
	if code != 0 || !strings.Contains(out, "systemd unit nd-agent.service") {
		t.Fatalf("install-agent on a systemd droplet: exit %d, %q; want it installed as a systemd unit", code, out)
	}
	if got := systemctl("is-enabled", "nd-agent.service"); got != "enabled" {
		t.Errorf("nd-agent.service is %q, want enabled", got)
	}
	pid := agentPID("")
	if code, _, _ := e.push(t, d.Name, e.example("hello")); code != 0 {
		t.Fatalf("deploy after install exited %d", code)
	}
	if body := get(t, "http://"+d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
		t.Fatalf("app answered %q after the deploy", body)
	}
	id := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-hello")

	// Upgrade in place: a new agent process, the same app container.
	if code, _ := install(); code != 0 {
		t.Fatalf("re-install exited %d", code)
	}
	pid = agentPID(pid)
	if got := e.docker(t, "inspect", "-f", "{{.Id}} {{.State.Running}}", "nd-hello"); got != id+" true" {
		t.Errorf("after the agent upgrade the app is %q, want %s running", got, id)
	}
	serves("the upgrade")

	start := time.Now()
	if err := d.RestartDocker(ctx); err != nil {
		t.Fatal(err)
	}
	serves("systemctl restart docker")
	t.Logf("restart docker to serving again: %v", time.Since(start).Round(time.Millisecond))

	if _, err := d.Exec(ctx, "kill", "-9", pid); err != nil {
		t.Fatal(err)
	}
	pid = agentPID(pid)
	serves("kill -9 of the agent")

	start = time.Now()
	if err := d.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	agentPID("")
	serves("a reboot")
	t.Logf("reboot to serving again: %v", time.Since(start).Round(time.Millisecond))
	if got := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-hello"); got != id {
		t.Errorf("after the reboot the app container is %s, want the deployed %s", got, id)
	}
}

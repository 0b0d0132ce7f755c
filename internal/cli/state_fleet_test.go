package cli

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// agentCheck runs nd-agent check on the droplet.
func (e *deployEnv) agentCheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := e.d.Exec(context.Background(), append([]string{e.bins["nd-agent@droplet"], "check"}, args...)...)
	code := 0
	if err != nil {
		code = 1
		if !strings.Contains(err.Error(), "exit status 1") {
			t.Fatalf("nd-agent check %v: %v\n%s", args, err, out)
		}
	}
	t.Logf("nd-agent check %v -> %d\n%s", args, code, out)
	return code, string(out)
}

// testStateCorruptOnlyItsApp: an unreadable state.json stops only its own
// app, every message about it names the file and the fix, and nd-agent
// check --repair rebuilds it (issue 10, finding 4).
func testStateCorruptOnlyItsApp(t *testing.T, e *deployEnv) {
	ctx := context.Background()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	for _, v := range []string{"v1", "v2"} {
		if code, _, _ := e.push(t, e.d.Name, versionedApp(t, t.TempDir(), v, "")); code != 0 {
			t.Fatalf("push %s exited %d", v, code)
		}
	}
	if code, _, _ := e.push(t, e.d.Name, e.example("hello")); code != 0 {
		t.Fatal("push hello failed")
	}
	// A container gone behind nd's back: check finds it, --repair brings
	// the current generation back.
	e.docker(t, "rm", "-f", "nd-upd")
	if code, out := e.agentCheck(t); code != 1 {
		t.Errorf("nd-agent check with the container gone exited %d, want 1", code)
	} else {
		mustContain(t, "check", out, "no container, state says generation 2")
	}
	if code, out := e.agentCheck(t, "--repair"); code != 0 {
		t.Errorf("nd-agent check --repair exited %d", code)
	} else {
		mustContain(t, "check --repair", out, "repaired: generation 2 runs")
	}
	e.waitSettled(t, url, "v2")

	const file = "/var/lib/nd-agent/apps/upd/state.json"
	if err := os.WriteFile(e.d.Path(file), []byte(`{"version": 1, "app": "upd", "curr`), 0o600); err != nil {
		t.Fatal(err)
	}
	wants := []string{file, "nd-agent check --repair"}

	code, out, _ := e.nd(t, ctx, "status", e.d.Name)
	if code != 0 {
		t.Fatalf("status of all apps exited %d with one app's state corrupt", code)
	}
	mustContain(t, "status", out, append(wants, "hello", "running")...)
	if code, _, _ := e.push(t, e.d.Name, e.example("hello")); code != 0 {
		t.Errorf("pushing another app exited %d with upd's state corrupt", code)
	}
	code, _, errOut := e.push(t, e.d.Name, versionedApp(t, t.TempDir(), "v3", ""))
	if code == 0 {
		t.Fatal("push of upd succeeded with its state unreadable")
	}
	mustContain(t, "push error", errOut, wants...)
	code, _, errOut = e.nd(t, ctx, "rollback", e.d.Name, "upd")
	if code == 0 {
		t.Fatal("rollback of upd succeeded with its state unreadable")
	}
	mustContain(t, "rollback error", errOut, wants...)
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("upd answered %q, want v2 still serving", got)
	}

	if code, out := e.agentCheck(t); code != 1 {
		t.Errorf("nd-agent check exited %d, want 1", code)
	} else {
		mustContain(t, "check", out, wants...)
	}
	code, out = e.agentCheck(t, "--repair")
	if code != 0 {
		t.Fatalf("nd-agent check --repair exited %d", code)
	}
	mustContain(t, "check --repair", out, "repaired: rebuilt", "generations 1, 2, current 2", file+".corrupt")
	e.waitSettled(t, url, "v2")
	if code, _, _ := e.nd(t, ctx, "rollback", e.d.Name, "upd"); code != 0 {
		t.Fatal("rollback after the repair failed")
	}
	e.waitSettled(t, url, "v1")
	if code, out := e.agentCheck(t); code != 0 {
		t.Errorf("nd-agent check after the repair exited %d", code)
	} else {
		mustContain(t, "check", out, "agree")
	}
	var st StatusJSON
	_, out, _ = e.nd(t, ctx, "status", "--json", e.d.Name, "upd")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Apps) != 1 || st.Apps[0].Generation != 3 || st.Apps[0].Error != "" {
		t.Errorf("status after the repair: %+v %v", st, err)
	}
	// rm is a way out of an unreadable state too.
	if err := os.WriteFile(e.d.Path(file), []byte(`{`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := e.nd(t, ctx, "rm", e.d.Name, "upd"); code != 0 {
		t.Fatalf("rm of an app with unreadable state exited %d: %s", code, errOut)
	}
	if _, out, _ := e.nd(t, ctx, "status", e.d.Name); strings.Contains(out, "upd") || !strings.Contains(out, "hello") {
		t.Errorf("status after rm: %q", out)
	}
}

// testStateDirFull: with no room in the state directory a deploy fails
// saying so before anything changes; with room for the intent record but
// not for state.json the new version does not stay live unrecorded: the
// previous one runs again and the client hears that (issue 10, finding 4).
func testStateDirFull(t *testing.T, e *deployEnv) {
	ctx := context.Background()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	v1 := versionedApp(t, t.TempDir(), "v1", "")
	v2 := versionedApp(t, t.TempDir(), "v2", "")
	if code, _, _ := e.push(t, e.d.Name, v1); code != 0 {
		t.Fatal("push v1 failed")
	}
	sh := func(script string) {
		t.Helper()
		if out, err := e.d.Exec(ctx, "sh", "-c", script); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	// A small tmpfs as the state directory, filled up but for one page
	// (the size of the intent record).
	if err := e.d.Stop(ctx, "nd-agent"); err != nil {
		t.Fatal(err)
	}
	sh(`cp -a /var/lib/nd-agent /tmp/nda && mount -t tmpfs -o size=512k tmpfs /var/lib/nd-agent && cp -a /tmp/nda/. /var/lib/nd-agent/`)
	t.Cleanup(func() { e.d.Exec(context.Background(), "umount", "-l", "/var/lib/nd-agent") })
	e.restartAgent(t, "")
	sh(`head -c 4096 /dev/zero > /var/lib/nd-agent/page; cat /dev/zero > /var/lib/nd-agent/fill 2>/dev/null; true`)

	code, _, errOut := e.push(t, e.d.Name, v2)
	if code == 0 {
		t.Fatal("push to a full state directory succeeded")
	}
	mustContain(t, "full", errOut, "no space left in /var/lib/nd-agent/apps/upd")
	e.waitSettled(t, url, "v1")

	sh(`rm /var/lib/nd-agent/page`)
	code, _, errOut = e.push(t, e.d.Name, v2)
	if code == 0 {
		t.Fatal("push with no room for state.json succeeded")
	}
	mustContain(t, "no room for state", errOut, "no space left in /var/lib/nd-agent/apps/upd", "state.json", "generation 1 runs again")
	e.waitSettled(t, url, "v1")

	sh(`rm /var/lib/nd-agent/fill`)
	if code, _, _ := e.push(t, e.d.Name, v2); code != 0 {
		t.Fatal("push after freeing space failed")
	}
	e.waitSettled(t, url, "v2")
}

package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/closure"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
)

// check runs nd-agent check against e's agent.
func (e *env) check(args ...string) (int, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	code := agent.Main(context.Background(), agent.Program{Stdout: &out, Stderr: &errb},
		append([]string{"check", "--socket", e.socket}, args...))
	e.t.Logf("nd-agent check %v -> %d\n%s%s", args, code, out.String(), errb.String())
	return code, out.String()
}

// TestCheckRepairs: nd-agent check finds an unreadable state.json, an
// interrupted deploy and a leaked GC root, and --repair fixes each; the
// unreadable file stops only its app meanwhile.
func TestCheckRepairs(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	pkg := nt.BuildClosure(t, "app4", 1)
	if _, err := closure.Push(ctx, e.client, pkg, closure.Options{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.client.Deploy(ctx, proto.Deploy{App: "app4", Package: pkg, Force: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := e.check(); code != 0 || !strings.Contains(out, "agree") {
		t.Fatalf("check of a consistent host = %d %q", code, out)
	}

	stateFile := filepath.Join(e.state, "apps", "app4", "state.json")
	os.WriteFile(stateFile, []byte("{garbage"), 0o600)
	_, err := e.client.Deploy(ctx, proto.Deploy{App: "app4", Package: pkg, Force: true}, nil)
	if err == nil || !strings.Contains(err.Error(), stateFile) || !strings.Contains(err.Error(), "nd-agent check --repair") {
		t.Errorf("deploy with a corrupt state: %v; want the file and the fix named", err)
	}
	st, err := e.client.Status(ctx, "")
	if err != nil || len(st.Apps) != 1 || !strings.Contains(st.Apps[0].Error, stateFile) {
		t.Errorf("status with a corrupt state = %+v, %v", st, err)
	}
	// A root the rebuild takes for a generation (the highest: there is no
	// container to ask here) and an interrupted deploy of generation 3.
	os.Symlink(pkg, filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/app4/9"))
	in, _ := json.Marshal(map[string]any{"version": 1, "op": "deploy", "app": "app4", "generation": 3, "previous": 2, "package": pkg})
	os.WriteFile(filepath.Join(e.state, "apps", "app4", "intent.json"), in, 0o600)

	code, out := e.check()
	if code != 1 || !strings.Contains(out, stateFile) || !strings.Contains(out, "--repair") {
		t.Errorf("check = %d %q, want 1 naming the file", code, out)
	}
	before := len(e.rt.specs)
	code, out = e.check("--repair")
	if code != 0 {
		t.Fatalf("check --repair exited %d", code)
	}
	for _, want := range []string{"rebuilt it", "generations 1, 2, 9, current 9", "interrupted deploy of generation 3", "finished it"} {
		if !strings.Contains(out, want) {
			t.Errorf("check --repair said %q, want %q", out, want)
		}
	}
	if len(e.rt.specs) == before {
		t.Error("check --repair did not make the runtime run the current generation")
	}
	if _, err := os.Stat(filepath.Join(e.state, "apps", "app4", "intent.json")); !os.IsNotExist(err) {
		t.Errorf("intent record left: %v", err)
	}
	if code, out := e.check(); code != 0 {
		t.Errorf("check after the repair = %d %q", code, out)
	}
	leaked := filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/app4/7")
	os.Symlink(pkg, leaked)
	if code, out := e.check(); code != 1 || !strings.Contains(out, "no longer kept: 7") {
		t.Errorf("check with a leaked root = %d %q", code, out)
	}
	if code, _ := e.check("--repair"); code != 0 {
		t.Errorf("check --repair of a leaked root exited %d", code)
	}
	if _, err := os.Lstat(leaked); !os.IsNotExist(err) {
		t.Errorf("leaked root left: %v", err)
	}
	d, err := e.client.Deploy(ctx, proto.Deploy{App: "app4", Package: pkg, Force: true}, nil)
	if err != nil || d.Generation != 10 {
		t.Errorf("deploy after the repair = %+v, %v; want generation 10", d, err)
	}
}

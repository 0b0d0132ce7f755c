package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// framedAgentCommit is the last commit of nd-agent's framed protocol,
// before the HTTP API.
const framedAgentCommit = "181019c"

// TestInstallAgentUpgradesFramedAgent: an nd-agent of the framed protocol
// (the real one, built from the repository's history) is named as older
// by nd-push, install-agent replaces it, and the new agent's HTTP API
// answers curl on its socket with the apps of `nd-push status --json`.
func TestInstallAgentUpgradesFramedAgent(t *testing.T) {
	testutil.RequireCommands(t, "git", "curl")
	bins, root := deployBins(t)
	old := testutil.BuildAtCommit(t, framedAgentCommit, "nd-agent")["nd-agent"]
	ctx := context.Background()
	d := fleet.ForTest(t, 1, fleet.Options{Nix: true})[0]
	dest := "/var/lib/nd-test/bin/nd-agent"
	copyFile(t, old, d.Path(dest), 0o755)
	// Started as install-agent --no-systemd of that version did.
	if out, err := d.Exec(ctx, "sh", "-c", detachedScript(dest)); err != nil {
		t.Fatalf("starting the framed nd-agent: %v %s", err, out)
	}
	e := &deployEnv{d: d, bins: map[string]string{"nd-agent@droplet": dest, "nd-init": bins["nd-init"]}, root: root}
	e.waitAgent(t)

	want := fmt.Sprintf("nd-agent on %s is older than this nd-push; run nd-push install-agent %s", d.Name, d.Name)
	if code, _, errOut := e.nd(t, ctx, "status", d.Name); code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("status against the framed agent: exit %d, %q; want 1 and %q", code, errOut, want)
	}
	if code, _, errOut := e.push(t, d.Name, e.example("hello")); code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("deploy to the framed agent: exit %d, %q; want 1 and %q", code, errOut, want)
	}

	var out, errb bytes.Buffer
	args := []string{"install-agent", "-F", d.SSHConfig(), "--agent-binary", bins["nd-agent"], "--dest", dest, "--no-systemd", d.Name}
	code := Run(ctx, args, &out, &errb)
	t.Logf("nd-push %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	if code != 0 || !strings.Contains(out.String(), "running") {
		t.Fatalf("install-agent over the framed agent: exit %d", code)
	}
	if code, _, _ := e.push(t, d.Name, e.example("hello")); code != 0 {
		t.Fatalf("deploy after the upgrade exited %d", code)
	}

	raw, err := d.Exec(ctx, "curl", "-sS", "--fail", "--unix-socket", "/run/nd-agent/agent.sock", "http://nd-agent/v1/apps")
	if err != nil {
		t.Fatalf("curl on the agent's socket: %v", err)
	}
	t.Logf("curl http://nd-agent/v1/apps:\n%s", raw)
	code, statusOut, _ := e.nd(t, ctx, "status", "--json", d.Name)
	if code != 0 {
		t.Fatalf("status --json exited %d", code)
	}
	var fromCurl, fromStatus struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(raw, &fromCurl); err != nil {
		t.Fatalf("curl's answer is no JSON of apps: %v", err)
	}
	if err := json.Unmarshal([]byte(statusOut), &fromStatus); err != nil {
		t.Fatal(err)
	}
	if len(fromCurl.Apps) != 1 || len(fromStatus.Apps) != 1 {
		t.Fatalf("apps from curl %d, from status %d; want 1 each", len(fromCurl.Apps), len(fromStatus.Apps))
	}
	c, s := fromCurl.Apps[0], fromStatus.Apps[0]
	if ck, sk := keys(c), keys(s); !slices.Equal(ck, sk) {
		t.Errorf("curl's app has fields %v, status --json's %v", ck, sk)
	}
	for _, k := range []string{"app", "generation", "package", "deployedAt", "pushedBy"} {
		if c[k] != s[k] {
			t.Errorf("%s: curl %v, status --json %v", k, c[k], s[k])
		}
	}
	cc, _ := c["container"].(map[string]any)
	sc, _ := s["container"].(map[string]any)
	if cc == nil || sc == nil || !slices.Equal(keys(cc), keys(sc)) || cc["id"] != sc["id"] {
		t.Errorf("containers: curl %v, status --json %v", cc, sc)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

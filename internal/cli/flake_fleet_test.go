package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// TestPushFlake deploys examples/flake#hello (nd's lib.ndConfiguration,
// locked offline against this checkout and the nixpkgs lib snapshot) with
// `nd-push HOST FLAKE#NAME`, and `nd-push build FLAKE#NAME` prints the
// package the droplet runs.
func TestPushFlake(t *testing.T) {
	testutil.RequireCommands(t, "nix")
	e := newDeployEnv(t, fleet.Options{Nix: true})
	ref := testutil.ExampleFlake(t) + "#hello"

	code, out, _ := e.push(t, e.d.Name, ref)
	if code != 0 {
		t.Fatalf("deploying %s exited %d", ref, code)
	}
	if !strings.Contains(out, "hello deployed generation 1") {
		t.Errorf("deploy output %q, want hello deployed generation 1", out)
	}
	if body := get(t, "http://"+e.d.Addr+":8080/"); !strings.Contains(body, "hello from an nd flake") {
		t.Fatalf("app answered %q, want hello from an nd flake", body)
	}
	var built, errb bytes.Buffer
	if code := Run(context.Background(), []string{"build", ref}, &built, &errb); code != 0 {
		t.Fatalf("nd-push build %s exited %d:\n%s", ref, code, errb.String())
	}
	if running := e.docker(t, "inspect", "-f", `{{index .Config.Labels "nd.package"}}`, "nd-hello"); running != strings.TrimSpace(built.String()) {
		t.Errorf("droplet runs %s, nd-push build printed %q", running, built.String())
	}
}

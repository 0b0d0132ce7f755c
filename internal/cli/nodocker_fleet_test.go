package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
)

// TestDockerUnreachable stops the droplet's dockerd under a deployed app:
// every command must then fail (exit 1) saying it cannot reach Docker on
// the host, and none may report the app as having no container.
func TestDockerUnreachable(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	ctx := context.Background()
	host := e.d.Name
	if code, _, _ := e.push(t, host, e.example("hello")); code != 0 {
		t.Fatalf("deploying hello exited %d", code)
	}
	if err := e.d.Stop(ctx, "dockerd"); err != nil {
		t.Fatal(err)
	}
	want := "cannot reach Docker on " + host + ": "
	for _, args := range [][]string{
		{"status", host},
		{"status", "--json", host},
		{"status", host, "hello"},
		{"logs", host, "hello"},
		{"exec", host, "hello", "--", "true"},
		{"rollback", host, "hello"},
		{"rm", host, "hello"},
	} {
		code, out, errOut := e.nd(t, ctx, args[0], args[1:]...)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("nd-push %s with dockerd stopped exited %d, stderr %q; want 1 and %q", strings.Join(args, " "), code, errOut, want)
		}
		if strings.Contains(out+errOut, "no container") {
			t.Errorf("nd-push %s with dockerd stopped reported %q", strings.Join(args, " "), out+errOut)
		}
	}
	for _, args := range [][]string{{host, e.example("hello")}, {"-b", host, e.example("hello")}} {
		if code, _, errOut := e.push(t, args...); code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("nd-push %s with dockerd stopped exited %d, stderr %q; want 1 and %q", strings.Join(args, " "), code, errOut, want)
		}
	}
	// The app is still recorded: nothing was removed without Docker.
	if _, err := e.d.Exec(ctx, "test", "-f", "/var/lib/nd-agent/apps/hello/state.json"); err != nil {
		t.Errorf("the app's state is gone after commands without Docker: %v", err)
	}
}

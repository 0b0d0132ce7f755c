package agent_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/manifest"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
)

// addToStore puts a directory with the given files into the laptop's store
// (nix-store --add: no references).
func addToStore(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("nix-store", "--add", dir).Output()
	if err != nil {
		t.Fatalf("nix-store --add: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// A manifest naming files outside its package's closure is refused before
// anything changes on the host: an etc of /var/lib/nd-agent would copy
// every app's secrets into an image.
func TestDeployRefusesManifestOutsideClosure(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	foreign := addToStore(t, "foreign-etc", map[string]string{"passwd": "root:x:0:0::/:/bin/sh\n"})
	cases := []struct{ name, etc, want string }{
		{"state directory", "/var/lib/nd-agent", `etc "/var/lib/nd-agent": want a clean path in /nix/store`},
		{"climbing out", foreign + "/../../../var/lib/nd-agent", "want a clean path in /nix/store"},
		{"store path outside the closure", foreign, "manifest etc " + foreign + " is not in the package's closure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := "evil"
			pkg := addToStore(t, "nd-evil", map[string]string{manifest.FileName: `{"version":1,"name":"evil","entrypoint":["/bin/sh"],"etc":"` + c.etc + `"}`})
			if _, err := closure.Push(ctx, e.client, pkg, closure.Options{}); err != nil {
				t.Fatal(err)
			}
			_, err := e.client.Deploy(ctx, proto.Deploy{App: app, Package: pkg, PushedBy: "tester"}, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !agentclient.IsCode(err, proto.CodeBadRequest) {
				t.Fatalf("deploy with etc %q = %v, want a bad-request error containing %q", c.etc, err, c.want)
			}
			if len(e.rt.specs) != 0 {
				t.Errorf("the runtime was asked to deploy: %+v", e.rt.specs)
			}
			for _, p := range []string{filepath.Join(e.state, "apps", app), filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent", app)} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a refused deploy (%v)", p, err)
				}
			}
		})
	}
}

// A failed first deploy leaves nothing behind: no state, no GC roots, and
// not the secrets nd-push uploaded for it.
func TestFailedFirstDeployLeavesNothing(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	e.rt.fail = errors.New("container exited with code 1")
	pkg := nt.BuildClosure(t, "first", 1)
	res, err := closure.Push(ctx, e.client, pkg, closure.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("TOKEN=s3cr3t\n")
	hash := proto.SecretsHash([][]byte{secret})
	dir := agent.SecretsDir(e.state, "first", hash)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0.env"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Deploy(ctx, proto.Deploy{App: "first", Package: pkg, Secrets: hash, Session: res.Session}, nil); err == nil {
		t.Fatal("deploy succeeded with a failing runtime")
	}
	for _, p := range []string{dir, filepath.Join(e.state, "apps", "first"), filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/first")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed first deploy (%v)", p, err)
		}
	}
}

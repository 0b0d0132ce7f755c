package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nd-project/nd/internal/closure"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
)

// An app named "tmp" has its generation roots where earlier agents kept
// the roots of pushes in progress; sweeping stale pushes must not take them.
func TestSessionSweepKeepsRootsOfAppTmp(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	deploy := func(pkg string) proto.Deployed {
		t.Helper()
		res, err := closure.Push(ctx, e.client, pkg, closure.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.client.Deploy(ctx, proto.Deploy{App: "tmp", Package: pkg, PushedBy: "tester", Session: res.Session}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	pkg1 := nt.BuildClosure(t, "tmp", 1)
	if d := deploy(pkg1); d.Generation != 1 {
		t.Fatalf("first deploy: generation %d, want 1", d.Generation)
	}
	root := filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/tmp/1")
	old := time.Now().Add(-48 * time.Hour)
	if err := unix.Lutimes(root, []unix.Timeval{unix.NsecToTimeval(old.UnixNano()), unix.NsecToTimeval(old.UnixNano())}); err != nil {
		t.Fatal(err)
	}
	// The next deploy sweeps sessions idle for longer than SessionTTL.
	if d := deploy(nt.BuildClosure(t, "tmp", 2)); d.Generation != 2 {
		t.Fatalf("second deploy: generation %d, want 2", d.Generation)
	}
	if target, err := os.Readlink(root); err != nil || target != pkg1 {
		t.Errorf("after a session sweep, root of app tmp generation 1 %s -> %q (%v), want %s", root, target, err, pkg1)
	}
}

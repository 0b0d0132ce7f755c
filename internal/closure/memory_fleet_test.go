package closure_test

import (
	"context"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/fleet"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/testutil"
)

// TestFleetPushBigPathSmallMemory pushes a closure of one 200 MiB path to a
// droplet whose agent, with every process it starts, runs in a 64 MiB
// memory cgroup: the import must not hold a path in memory (Nix 2.8's
// nix-store --import does, and is killed there). The benchmark does the
// same with 1 GiB in 256 MiB (scripts/bench.sh memory).
func TestFleetPushBigPathSmallMemory(t *testing.T) {
	testutil.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pkg := nt.BuildBig(t, "smallmem", 200)
	d := fleet.ForTest(t, 1, fleet.Options{Nix: true, NoDocker: true})[0]
	cg, err := fleet.NewMemoryCgroup(d.Name+"-agent", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cg.Remove(); err != nil {
			t.Error(err)
		}
	})
	startAgentArgv(t, ctx, d, cg.Wrap("/usr/local/bin/nd-agent", "serve")...)
	c := dialSSH(t, ctx, d)
	cl := agentclient.New(streamLocal(c), agentclient.Options{Host: d.Name})
	res, err := closure.Push(ctx, cl, pkg, closure.Options{})
	if err != nil {
		t.Fatalf("pushing a 200 MiB path to an agent in 64 MiB: %v (OOM kills in its cgroup: %d)", err, cg.OOMKills())
	}
	if len(res.Imported) != 1 || res.Imported[0] != pkg {
		t.Errorf("imported %v, want [%s]", res.Imported, pkg)
	}
	if out, err := d.Exec(ctx, "nix-store", "--verify-path", pkg); err != nil {
		t.Errorf("the pushed path does not verify on the droplet: %v %s", err, out)
	}
	peak, _ := cg.Peak()
	t.Logf("cgroup peak %d MiB (limit 64 MiB), OOM kills %d", peak>>20, cg.OOMKills())
}

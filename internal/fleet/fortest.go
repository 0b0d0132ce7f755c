package fleet

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/testutil"
)

// ForTest starts n droplets for t (see Start) and registers their teardown
// with t.Cleanup; the cleanup then fails t if anything of them is left
// (namespaces, links, processes, mounts, directories). Without root or the
// needed programs it skips t, or fails it under ND_TEST_REQUIRE_ALL=1.
// An empty opts.Prefix is derived from the test's name.
func ForTest(t testing.TB, n int, opts Options) []*Droplet {
	t.Helper()
	testutil.RequireRoot(t)
	need := []string{"ip", "tc", "nsenter", "unshare", "mount", "/usr/sbin/sshd"}
	if !opts.NoDocker {
		need = append(need, "dockerd", "docker")
	}
	if opts.Nix {
		need = append(need, "nix-store")
	}
	testutil.RequireCommands(t, need...)
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(t.Name())
	}
	opts.Keep = false
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, err := Start(ctx, n, opts)
	if err != nil {
		t.Fatalf("starting %d droplets: %v", n, err)
	}
	type record struct {
		d            *Droplet
		netID, mntID string
		procs        []proc
	}
	var recs []record
	for _, d := range f.Droplets() {
		s, err := readState(d.Name)
		if err != nil {
			f.Close()
			t.Fatalf("reading state of droplet %s: %v", d.Name, err)
		}
		recs = append(recs, record{d, s.NetNS, s.MntNS, append([]proc{s.Holder}, s.Procs...)})
	}
	t.Cleanup(func() {
		// Background processes started during the test are recorded now.
		for i := range recs {
			if s, err := readState(recs[i].d.Name); err == nil {
				recs[i].procs = append([]proc{s.Holder}, s.Procs...)
			}
		}
		if err := f.Close(); err != nil {
			t.Errorf("tearing down droplets: %v", err)
		}
		for _, r := range recs {
			if left := checkGone(r.d, r.netID, r.mntID, r.procs); len(left) > 0 {
				t.Errorf("droplet %s left behind: %s", r.d.Name, strings.Join(left, "; "))
			}
		}
	})
	return f.Droplets()
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// testPrefix turns a test name into a short droplet name prefix.
func testPrefix(name string) string {
	p := strings.Trim(nonName.ReplaceAllString(strings.ToLower(strings.TrimPrefix(name, "Test")), "-"), "-")
	if len(p) > 20 {
		p = strings.Trim(p[:20], "-")
	}
	if p == "" {
		p = "t"
	}
	return p
}

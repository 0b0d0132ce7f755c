package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/testutil"
)

// ForTest starts n droplets for t (see Start) and registers their teardown
// with t.Cleanup; the cleanup then fails t if anything of them is left
// (namespaces, links, processes, mounts, directories). Without root or the
// needed programs it skips t, or fails it under ND_TEST_REQUIRE_ALL=1.
// An empty opts.Prefix is derived from the test's name.
//
// ND_FLEET_KIND=modern makes droplets of tests that ask for no kind modern,
// to see how the existing tests fare there (some test bookworm's lack of
// systemd on purpose).
func ForTest(t testing.TB, n int, opts Options) []*Droplet {
	t.Helper()
	testutil.RequireRoot(t)
	if k := os.Getenv(KindEnv); opts.Kind == "" && k != "" {
		opts.Kind = Kind(k)
	}
	need := []string{"ip", "tc", "nsenter", "unshare", "mount"}
	if opts.Kind == Modern {
		// The droplet brings its own sshd, dockerd and Nix.
		err := RootfsReady()
		testutil.Require(t, err == nil, fmt.Sprint(err))
	} else {
		need = append(need, "/usr/sbin/sshd")
		if !opts.NoDocker {
			need = append(need, "dockerd", "docker")
		}
		if opts.Nix {
			need = append(need, "nix-store")
		}
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
	untrack := trackForInterrupt(f)
	t.Cleanup(func() {
		defer untrack()
		if err := closeAndCheck(f); err != nil {
			t.Error(err)
		}
	})
	return f.Droplets()
}

// KindEnv names the environment variable that sets the droplet kind of
// tests that ask for none.
const KindEnv = "ND_FLEET_KIND"

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

// closeAndCheck tears f down and reports anything of it that is left. The
// droplets' namespaces are pinned across the teardown so that their IDs cannot
// be reused by new namespaces before the check.
func closeAndCheck(f *Fleet) error {
	type record struct {
		d     *Droplet
		pins  *pinned
		procs []proc
	}
	var recs []record
	for _, d := range f.Droplets() {
		r := record{d: d, pins: pin(d.Name, d.holder), procs: []proc{d.holder}}
		defer r.pins.release()
		if s, err := readState(d.Name); err == nil {
			r.procs = append(r.procs, s.Procs...)
		}
		recs = append(recs, r)
	}
	var errs []error
	if err := f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("tearing down droplets: %w", err))
	}
	for _, r := range recs {
		if left := checkGone(r.d, r.pins.netID, r.pins.mntID, r.procs); len(left) > 0 {
			errs = append(errs, fmt.Errorf("droplet %s left behind: %s", r.d.Name, strings.Join(left, "; ")))
		}
	}
	return errors.Join(errs...)
}

// live holds the fleets of this test process that are not torn down yet, so
// that an interrupt (SIGINT, SIGTERM) tears them down before the process dies.
// A test binary killed otherwise (SIGKILL, the -timeout panic) leaves stale
// droplets that the next Start or `nd-fleet down --all` removes.
var live struct {
	once   sync.Once
	mu     sync.Mutex
	fleets map[*Fleet]bool
}

func trackForInterrupt(f *Fleet) (untrack func()) {
	live.once.Do(func() {
		var sigs []os.Signal
		for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
			if !signal.Ignored(sig) { // e.g. SIGINT of a background job
				sigs = append(sigs, sig)
			}
		}
		if len(sigs) == 0 {
			return
		}
		live.fleets = map[*Fleet]bool{}
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, sigs...)
		go func() {
			sig := <-ch
			live.mu.Lock()
			for f := range live.fleets {
				f.Close()
			}
			live.mu.Unlock()
			signal.Reset(sigs...)
			syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		}()
	})
	if live.fleets == nil {
		return func() {}
	}
	live.mu.Lock()
	live.fleets[f] = true
	live.mu.Unlock()
	return func() {
		live.mu.Lock()
		delete(live.fleets, f)
		live.mu.Unlock()
	}
}

package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Options say what droplets Start makes. The zero value gives bookworm
// droplets without Nix, with dockerd, unshaped links and stream-local
// forwarding on.
type Options struct {
	// Kind is the droplet kind: Bookworm (the default) or Modern.
	Kind Kind
	// ContainerdStore switches on Docker's containerd image store
	// ({"features": {"containerd-snapshotter": true}} in daemon.json), the
	// default of fresh Docker Engine 29 installs. Modern droplets only.
	ContainerdStore bool
	// NixLayout says where a modern droplet with Nix has it: NixDebian (the
	// default) or NixInstaller. Modern droplets with Nix only.
	NixLayout NixLayout
	// Prefix starts generated droplet names: PREFIX-RAND-I (lowercase
	// letters, digits and '-'). Default "d".
	Prefix string
	// Nix gives each droplet its own, initially empty, Nix store at /nix
	// (bookworm: the machine's nix tools work inside; modern: Nix 2.34 with
	// nix-daemon). Without it there is no /nix store to use and no nix*
	// program on PATH inside.
	Nix bool
	// Rate, if set, shapes the caller→droplet direction of the link with
	// tbf at this rate (tc syntax, e.g. "200mbit").
	Rate string
	// NoStreamLocalForwarding makes sshd refuse direct-streamlocal
	// (AllowStreamLocalForwarding no), for testing the dial-stdio fallback.
	NoStreamLocalForwarding bool
	// NoDocker skips the droplet's dockerd (a faster start for tests that
	// only need sshd and Nix).
	NoDocker bool
	// Keep leaves the droplets running after the calling process exits
	// (nd-fleet up); they are removed only by Close or `nd-fleet down`.
	// Without Keep a droplet whose creating process died is stale and is
	// removed by the next Start.
	Keep bool
}

// Fleet is a set of droplets started together.
type Fleet struct {
	droplets []*Droplet
	once     sync.Once
	err      error
}

// Droplets returns the fleet's droplets in the order they were asked for.
func (f *Fleet) Droplets() []*Droplet { return f.droplets }

// Close tears every droplet down (processes, namespaces, mounts, state). It
// is safe to call more than once.
func (f *Fleet) Close() error {
	f.once.Do(func() { f.err = teardownAll(dropletNames(f.droplets)) })
	return f.err
}

func dropletNames(ds []*Droplet) []string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	return names
}

// Start brings up n droplets in parallel with generated names and returns
// when all of them answer (sshd on Addr:22 and, unless NoDocker, dockerd).
// On error nothing of them is left behind. Start first removes stale
// droplets of processes that died.
func Start(ctx context.Context, n int, opts Options) (*Fleet, error) {
	if n < 1 {
		return nil, fmt.Errorf("starting fleet: need at least one droplet, got %d", n)
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "d"
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%s-%d", prefix, hex.EncodeToString(rnd[:]), i+1)
	}
	return StartNamed(ctx, names, opts)
}

// StartNamed is Start with the droplets' names given; a name in use is an
// error.
func StartNamed(ctx context.Context, names []string, opts Options) (*Fleet, error) {
	seen := map[string]bool{}
	for _, n := range names {
		if !nameRE.MatchString(n) {
			return nil, fmt.Errorf("starting fleet: bad droplet name %q (want [a-z0-9][a-z0-9-]*, at most 40 characters)", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("starting fleet: droplet name %q given twice", n)
		}
		seen[n] = true
	}
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("starting fleet: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("starting fleet: must run as root")
	}
	if opts.Kind == Modern {
		if err := RootfsReady(); err != nil {
			return nil, fmt.Errorf("starting fleet: %w", err)
		}
	}
	states, err := allocate(names, opts)
	if err != nil {
		return nil, err
	}
	f := &Fleet{droplets: make([]*Droplet, len(states))}
	errs := make([]error, len(states))
	var wg sync.WaitGroup
	for i, s := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.droplets[i], errs[i] = bringUp(ctx, s, opts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if terr := teardownAll(names); terr != nil {
			err = errors.Join(err, terr)
		}
		return nil, err
	}
	return f, nil
}

// allocate removes stale droplets, then reserves an address block and a state
// directory per name, all under the machine-wide lock.
func allocate(names []string, opts Options) ([]*state, error) {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", StateRoot, err)
	}
	unlock, err := lockGlobal()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := cleanStaleLocked(); err != nil {
		return nil, fmt.Errorf("removing stale droplets: %w", err)
	}
	existing, err := listNames()
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, n := range existing {
		if s, err := readState(n); err == nil {
			used[s.Index] = true
		}
	}
	owner := procFor(os.Getpid(), "owner")
	if opts.Keep {
		owner = proc{}
	}
	var out []*state
	next := 0
	for _, name := range names {
		if _, err := os.Stat(stateDir(name)); err == nil {
			return nil, rollbackAlloc(out, fmt.Errorf("starting droplet %s: name in use (nd-fleet down %s)", name, name))
		}
		for next < maxIndex && (used[next] || linkExists(outerIf(next))) {
			next++
		}
		if next >= maxIndex {
			return nil, rollbackAlloc(out, errors.New("starting fleet: no free address block in 10.213.0.0/16"))
		}
		used[next] = true
		s := &state{Name: name, Index: next, Nix: opts.Nix, Docker: !opts.NoDocker, Owner: owner,
			Kind: opts.kind(), ContainerdStore: opts.ContainerdStore, NixLayout: opts.nixLayout()}
		if err := os.MkdirAll(stateDir(name), 0o755); err != nil {
			return nil, rollbackAlloc(out, fmt.Errorf("creating state of droplet %s: %w", name, err))
		}
		out = append(out, s)
		if err := writeState(s); err != nil {
			return nil, rollbackAlloc(out, err)
		}
	}
	return out, nil
}

func rollbackAlloc(states []*state, err error) error {
	for _, s := range states {
		os.RemoveAll(stateDir(s.Name))
	}
	return err
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// cleanStaleLocked tears down droplets whose owner died and namespaces or
// links of the fleet that no droplet state accounts for. The global lock is
// held, so no droplet is half-allocated.
func cleanStaleLocked() error {
	names, err := listNames()
	if err != nil {
		return err
	}
	var stale []string
	known := map[string]bool{}
	for _, n := range names {
		s, err := readState(n)
		if err != nil || (s.Owner.PID != 0 && !s.Owner.alive()) {
			stale = append(stale, n)
			continue
		}
		known[netnsName(n)] = true
		known[outerIf(s.Index)] = true
	}
	errs := []error{teardownAll(stale)}
	for _, ns := range listNetns() {
		if !known[ns] {
			errs = append(errs, teardownNetns(ns))
		}
	}
	removeOrphanCgroups(names)
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "ndf") && !strings.HasSuffix(n, "i") && !known[n] {
			runQuiet("ip", "link", "del", n)
		}
	}
	return errors.Join(errs...)
}

// listNetns lists the fleet's network namespaces (names starting with NetnsPrefix).
func listNetns() []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), NetnsPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// CleanStale removes what dead processes left: droplets whose creating
// process is gone (not those kept with Options.Keep) and fleet namespaces and
// links that no droplet accounts for. Start does this itself.
func CleanStale() error {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return err
	}
	unlock, err := lockGlobal()
	if err != nil {
		return err
	}
	defer unlock()
	return cleanStaleLocked()
}

// List returns the droplets that currently have state on this machine.
func List() ([]*Droplet, error) {
	names, err := listNames()
	if err != nil {
		return nil, err
	}
	var out []*Droplet
	for _, n := range names {
		d, err := Load(n)
		if err != nil {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// Down tears down the named droplets (started by any process).
func Down(names ...string) error { return teardownAll(names) }

// DownAll tears down every droplet and every leftover of the fleet on this
// machine, live or stale.
func DownAll() error {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return err
	}
	unlock, err := lockGlobal()
	if err != nil {
		return err
	}
	defer unlock()
	names, err := listNames()
	if err != nil {
		return err
	}
	errs := []error{teardownAll(names)}
	for _, ns := range listNetns() {
		errs = append(errs, teardownNetns(ns))
	}
	removeOrphanCgroups(nil)
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "ndf") && !strings.HasSuffix(n, "i") {
			runQuiet("ip", "link", "del", n)
		}
	}
	if ents, err := os.ReadDir(DataRoot); err == nil {
		for _, e := range ents {
			if n, disk := strings.CutSuffix(e.Name(), diskSuffix); disk {
				errs = append(errs, removeDisk(n))
				continue
			}
			errs = append(errs, releaseDisk(e.Name()), removeTree(dataDir(e.Name())))
		}
	}
	return errors.Join(errs...)
}

package portswitch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Chains of nd-agent's own.
const (
	ChainDNAT    = "ND-DNAT"    // nat, from PREROUTING and OUTPUT
	ChainSNAT    = "ND-SNAT"    // nat, from POSTROUTING
	ChainForward = "ND-FORWARD" // filter, from DOCKER-USER
)

// Binding is one published host port routed to a container.
type Binding struct {
	Protocol   string // "tcp" or "udp"
	HostIP     string // "" for every local address
	HostPort   int
	Target     netip.Addr // the container's address
	TargetPort int
}

func (b Binding) String() string {
	h := strconv.Itoa(b.HostPort)
	if b.HostIP != "" {
		h = b.HostIP + ":" + h
	}
	return fmt.Sprintf("%s->%s/%s", h, netip.AddrPortFrom(b.Target, uint16(b.TargetPort)), b.Protocol)
}

// Route is where an app's published ports go.
type Route struct {
	// Bridge is the host interface of the target's network (docker0): the
	// host's own connections to it need route_localnet there.
	Bridge string
	// Subnet is the target's network: connections from it are masqueraded
	// so the reply comes back through the host (hairpin).
	Subnet netip.Prefix
	// PID is a process in the target's network namespace (the container's
	// init), 0 if unknown. Its bridge ports get hairpin mode, so the target
	// reaches its own published ports through the host: with br_netfilter
	// (which Docker loads) such a DNATed frame is bridged back out of the
	// port it came in by, which a bridge refuses otherwise.
	PID      int
	Bindings []Binding
}

// Runner runs an external command with stdin (may be nil) and returns its
// standard output; an error carries its standard error.
type Runner func(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error)

// Options configure a Switch; the zero value uses `iptables` and /proc/sys.
type Options struct {
	// IPv6 makes a Switch of IPv6 bindings (targets and host addresses),
	// with ip6tables by default. Docker publishes IPv6 only with ipv6 on in
	// daemon.json; then the containers have an address of that family.
	IPv6 bool
	// Command is the iptables program (default "iptables", or "ip6tables"
	// with IPv6); Command+"-restore"
	// must exist beside it. Use the one Docker uses.
	Command string
	Run     Runner
	// ProcSys is where sysctls are written (default /proc/sys), Proc where
	// processes are found (default /proc).
	ProcSys string
	Proc    string
	// LookPath says whether a program exists (default exec.LookPath).
	LookPath func(name string) error
}

// Switch owns nd's port rules on one host. It is safe for concurrent use:
// apps deploy in parallel, and each Set rewrites a shared chain.
type Switch struct {
	mu   sync.Mutex
	opts Options
}

// New makes a Switch.
func New(opts Options) *Switch {
	if opts.Command == "" {
		opts.Command = "iptables"
		if opts.IPv6 {
			opts.Command = "ip6tables"
		}
	}
	if opts.Run == nil {
		opts.Run = runCommand
	}
	if opts.ProcSys == "" {
		opts.ProcSys = "/proc/sys"
	}
	if opts.Proc == "" {
		opts.Proc = "/proc"
	}
	if opts.LookPath == nil {
		opts.LookPath = lookPath
	}
	return &Switch{opts: opts}
}

func runCommand(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

func comment(app string) string { return "nd:" + app }

// jumps are the rules that send traffic into nd's chains; each is inserted
// first in its chain, so Docker's rules (which it appends, or inserts when it
// restarts) never see a connection nd routes.
// IPv6 has no route_localnet: ::1 cannot leave the host, so the host's own
// IPv6 connections are routed only when they use one of its other
// addresses.
func (s *Switch) jumps() []struct {
	table, chain string
	rule         []string
} {
	local := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainDNAT}
	output := local
	if s.opts.IPv6 {
		output = append([]string{"!", "-d", "::1/128"}, local...)
	}
	return []struct {
		table, chain string
		rule         []string
	}{
		{"nat", "PREROUTING", local},
		{"nat", "OUTPUT", output},
		{"nat", "POSTROUTING", []string{"-j", ChainSNAT}},
		{"filter", "DOCKER-USER", []string{"-j", ChainForward}},
	}
}

// ensure creates nd's chains and jumps if missing. It runs on every change:
// a reboot or someone's `iptables -F` may have removed them. DOCKER-USER is
// created if Docker has not made it yet (Docker keeps an existing one and
// jumps to it from FORWARD).
func (s *Switch) ensure(ctx context.Context) error {
	chains := [][2]string{{"nat", ChainDNAT}, {"nat", ChainSNAT}, {"filter", ChainForward}, {"filter", "DOCKER-USER"}}
	for _, c := range chains {
		if _, err := s.ipt(ctx, "-t", c[0], "-S", c[1], "1"); err == nil {
			continue
		}
		if _, err := s.ipt(ctx, "-t", c[0], "-N", c[1]); err != nil {
			return fmt.Errorf("creating chain %s/%s: %w", c[0], c[1], err)
		}
	}
	for _, j := range s.jumps() {
		if _, err := s.ipt(ctx, append([]string{"-t", j.table, "-C", j.chain}, j.rule...)...); err == nil {
			continue
		}
		if _, err := s.ipt(ctx, append([]string{"-t", j.table, "-I", j.chain, "1"}, j.rule...)...); err != nil {
			return fmt.Errorf("jumping from %s/%s to nd's chain: %w", j.table, j.chain, err)
		}
	}
	return nil
}

func (s *Switch) ipt(ctx context.Context, args ...string) ([]byte, error) {
	return s.opts.Run(ctx, nil, s.opts.Command, append([]string{"-w"}, args...)...)
}

// chainRules lists a chain's rules as iptables -S prints them ("-A CHAIN ..."),
// split into the app's and the others'.
func (s *Switch) chainRules(ctx context.Context, table, chain, app string) (mine, others []string, err error) {
	out, err := s.ipt(ctx, "-t", table, "-S", chain)
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s/%s: %w", table, chain, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "-A ") {
			continue
		}
		if ruleApp(l) == app {
			mine = append(mine, l)
		} else {
			others = append(others, l)
		}
	}
	return mine, others, nil
}

// Set makes the app's published ports lead to r (replacing what they led
// to). New connections go to r from the moment it returns; established ones
// stay on their container. An empty r.Bindings removes the app's rules.
func (s *Switch) Set(ctx context.Context, app string, r Route) error {
	family := func(a netip.Addr) bool {
		if s.opts.IPv6 {
			return a.Is6() && !a.Is4In6()
		}
		return a.Is4()
	}
	for _, b := range r.Bindings {
		if (b.Protocol != "tcp" && b.Protocol != "udp") || !family(b.Target) || b.HostPort < 1 || b.HostPort > 65535 || b.TargetPort < 1 || b.TargetPort > 65535 {
			return fmt.Errorf("routing ports of %s: bad binding %v", app, b)
		}
		if b.HostIP != "" {
			if a, err := netip.ParseAddr(b.HostIP); err != nil || !family(a) {
				return fmt.Errorf("routing ports of %s: host address %q is not of the switch's family", app, b.HostIP)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(r.Bindings) == 0 {
		if _, err := s.ipt(ctx, "-t", "nat", "-S", ChainDNAT, "1"); err != nil {
			return nil // nothing was ever routed here (nor could be: no nat table?)
		}
	}
	if err := s.ensure(ctx); err != nil {
		return fmt.Errorf("routing ports of %s: %w", app, err)
	}
	if len(r.Bindings) > 0 && r.Bridge != "" && !s.opts.IPv6 {
		if err := s.routeLocalnet(r.Bridge); err != nil {
			return fmt.Errorf("routing ports of %s: %w", app, err)
		}
	}
	if len(r.Bindings) > 0 && r.PID > 0 {
		if err := s.hairpin(ctx, r.PID); err != nil {
			return fmt.Errorf("routing ports of %s: %w", app, err)
		}
	}
	oldD, othersD, err := s.chainRules(ctx, "nat", ChainDNAT, app)
	if err != nil {
		return err
	}
	oldS, othersS, err := s.chainRules(ctx, "nat", ChainSNAT, app)
	if err != nil {
		return err
	}
	oldF, othersF, err := s.chainRules(ctx, "filter", ChainForward, app)
	if err != nil {
		return err
	}
	for _, o := range othersD {
		ob, err := parseDNAT(o)
		if err != nil {
			continue // not nd's form; iptables will keep it first-come
		}
		for _, b := range r.Bindings {
			if ob.Protocol == b.Protocol && ob.HostPort == b.HostPort && (ob.HostIP == b.HostIP || ob.HostIP == "" || b.HostIP == "") {
				return fmt.Errorf("routing ports of %s: host port %d/%s is already published by app %s", app, b.HostPort, b.Protocol, ruleApp(o))
			}
		}
	}
	newD, newS, newF := rules(app, r)
	if equalRules(oldD, newD) && len(oldF) == len(newF) && len(oldS) == len(newS) {
		return nil
	}
	// The accept for the new target is committed before the nat switch and
	// the old one dropped after it: iptables-restore commits table by table.
	var in bytes.Buffer
	writeTable(&in, "filter", map[string][]string{ChainForward: concat(othersF, union(oldF, newF))})
	writeTable(&in, "nat", map[string][]string{ChainDNAT: concat(othersD, newD), ChainSNAT: concat(othersS, newS)})
	if err := s.restore(ctx, &in); err != nil {
		return fmt.Errorf("switching ports of %s: %w", app, err)
	}
	in.Reset()
	writeTable(&in, "filter", map[string][]string{ChainForward: concat(othersF, newF)})
	if err := s.restore(ctx, &in); err != nil {
		return fmt.Errorf("dropping old accepts of %s: %w", app, err)
	}
	return nil
}

// Clear removes the app's rules.
func (s *Switch) Clear(ctx context.Context, app string) error {
	return s.Set(ctx, app, Route{})
}

// Bindings reads back the app's routed ports, sorted by host port.
func (s *Switch) Bindings(ctx context.Context, app string) ([]Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.ipt(ctx, "-t", "nat", "-S", ChainDNAT, "1"); err != nil {
		return nil, nil // no chain: nothing routed yet
	}
	mine, _, err := s.chainRules(ctx, "nat", ChainDNAT, app)
	if err != nil {
		return nil, err
	}
	var bs []Binding
	for _, l := range mine {
		b, err := parseDNAT(l)
		if err != nil {
			return nil, fmt.Errorf("reading port rules of %s: %w", app, err)
		}
		bs = append(bs, b)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].HostPort < bs[j].HostPort })
	return bs, nil
}

// routeLocalnet lets packets from 127.0.0.0/8 leave on the bridge: the host's
// own connections to localhost:PORT are DNATed there (and masqueraded on
// the way out).
func (s *Switch) routeLocalnet(bridge string) error {
	if bridge == "" || strings.ContainsAny(bridge, "/") || bridge == "." || bridge == ".." {
		return fmt.Errorf("bad bridge name %q", bridge)
	}
	p := filepath.Join(s.opts.ProcSys, "net/ipv4/conf", bridge, "route_localnet")
	if cur, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("setting route_localnet on %s: %w", bridge, err)
	}
	return nil
}

func (s *Switch) restore(ctx context.Context, in io.Reader) error {
	_, err := s.opts.Run(ctx, in, s.opts.Command+"-restore", "-w", "--noflush")
	return err
}

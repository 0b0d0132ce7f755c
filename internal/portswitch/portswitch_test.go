package portswitch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nd-project/nd/internal/testutil"
)

var nsSeq atomic.Int32

// netns makes a network namespace of the test's own (lo up, a dummy
// interface with 10.99.0.1-3, one end of a veth pair) and returns its name; iptables there touches
// nothing of the machine's.
func netns(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "ip", "nsenter", "iptables", "iptables-restore", "iptables-legacy", "iptables-legacy-restore")
	name := fmt.Sprintf("ndps-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "nd0", "type", "veth", "peer", "name", "nd1"},
		{"ip", "link", "set", "nd0", "up"},
		{"ip", "link", "set", "nd1", "up"},
		{"ip", "addr", "add", "10.99.0.1/24", "dev", "nd0"},
		{"ip", "addr", "add", "10.99.0.2/24", "dev", "nd0"},
		{"ip", "addr", "add", "10.99.0.3/24", "dev", "nd0"},
	} {
		if out, err := inNetns(name, c...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	return name
}

func inNetns(ns string, argv ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, argv...)...)
}

// switchIn is a Switch whose commands run in netns ns with the iptables
// variant cmd, and whose sysctls go to a temporary tree.
func switchIn(t *testing.T, ns, cmd string) (*Switch, string) {
	procSys := t.TempDir()
	os.MkdirAll(filepath.Join(procSys, "net/ipv4/conf/docker0"), 0o755)
	os.WriteFile(filepath.Join(procSys, "net/ipv4/conf/docker0/route_localnet"), []byte("0\n"), 0o644)
	return New(Options{
		Command: cmd,
		ProcSys: procSys,
		Run: func(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
			c := inNetns(ns, append([]string{name}, args...)...)
			c.Stdin = stdin
			var errb strings.Builder
			c.Stderr = &errb
			out, err := c.Output()
			if err != nil {
				return out, fmt.Errorf("%s %v: %w: %s", name, args, err, errb.String())
			}
			return out, nil
		},
	}), procSys
}

func save(t *testing.T, ns, cmd string) string {
	t.Helper()
	out, err := inNetns(ns, cmd+"-save").CombinedOutput()
	if err != nil {
		t.Fatalf("%s-save: %v: %s", cmd, err, out)
	}
	return string(out)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestSetClearAndOthers checks, on both iptables variants, that Set routes
// and re-routes one app without touching another app's rules or Docker's
// chains, refuses a host port another app has, and Clear removes exactly
// the app's rules.
func TestSetClearAndOthers(t *testing.T) {
	for _, cmd := range []string{"iptables", "iptables-legacy"} {
		t.Run(cmd, func(t *testing.T) {
			ns := netns(t)
			ctx := context.Background()
			// Docker's chains as dockerd 20.10 leaves them.
			for _, c := range [][]string{
				{"-t", "nat", "-N", "DOCKER"},
				{"-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
				{"-N", "DOCKER-USER"},
				{"-A", "DOCKER-USER", "-j", "RETURN"},
				{"-A", "FORWARD", "-j", "DOCKER-USER"},
			} {
				if out, err := inNetns(ns, append([]string{cmd, "-w"}, c...)...).CombinedOutput(); err != nil {
					t.Fatalf("%v: %v: %s", c, err, out)
				}
			}
			s, procSys := switchIn(t, ns, cmd)
			subnet := netip.MustParsePrefix("172.17.0.0/16")
			a1 := Route{Bridge: "docker0", Subnet: subnet, Bindings: []Binding{
				{Protocol: "tcp", HostPort: 8080, Target: addr("172.17.0.2"), TargetPort: 80},
				{Protocol: "udp", HostIP: "127.0.0.1", HostPort: 53, Target: addr("172.17.0.2"), TargetPort: 5353},
			}}
			if err := s.Set(ctx, "a", a1); err != nil {
				t.Fatal(err)
			}
			b := Route{Bridge: "docker0", Subnet: subnet, Bindings: []Binding{{Protocol: "tcp", HostPort: 9090, Target: addr("172.17.0.9"), TargetPort: 9090}}}
			if err := s.Set(ctx, "b", b); err != nil {
				t.Fatal(err)
			}
			if v, _ := os.ReadFile(filepath.Join(procSys, "net/ipv4/conf/docker0/route_localnet")); strings.TrimSpace(string(v)) != "1" {
				t.Errorf("route_localnet on docker0 = %q, want 1", v)
			}
			a2 := a1
			a2.Bindings = []Binding{
				{Protocol: "tcp", HostPort: 8080, Target: addr("172.17.0.3"), TargetPort: 80},
				{Protocol: "udp", HostIP: "127.0.0.1", HostPort: 53, Target: addr("172.17.0.3"), TargetPort: 5353},
			}
			if err := s.Set(ctx, "a", a2); err != nil {
				t.Fatal(err)
			}
			got, err := s.Bindings(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != "[127.0.0.1:53->172.17.0.3:5353/udp 8080->172.17.0.3:80/tcp]" {
				t.Errorf("Bindings(a) = %v, want the two ports on 172.17.0.3", got)
			}
			rules := save(t, ns, cmd)
			if strings.Contains(rules, "172.17.0.2") {
				t.Errorf("rules still name the old target 172.17.0.2:\n%s", rules)
			}
			for _, want := range []string{"172.17.0.9:9090", "-A DOCKER-USER -j RETURN", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"} {
				if !strings.Contains(rules, want) {
					t.Errorf("rules lost %q:\n%s", want, rules)
				}
			}
			// nd's jumps come first, before Docker's.
			for _, chain := range []string{"PREROUTING", "DOCKER-USER"} {
				table := "nat"
				if chain == "DOCKER-USER" {
					table = "filter"
				}
				out, _ := inNetns(ns, cmd, "-w", "-t", table, "-S", chain, "1").CombinedOutput()
				if !strings.Contains(string(out), "-j ND-") {
					t.Errorf("first rule of %s is %q, want nd's jump", chain, out)
				}
			}
			// Setting the same route again is a no-op; a port of b's is refused.
			if err := s.Set(ctx, "a", a2); err != nil {
				t.Fatal(err)
			}
			c := Route{Bindings: []Binding{{Protocol: "tcp", HostPort: 9090, Target: addr("172.17.0.4"), TargetPort: 1}}}
			if err := s.Set(ctx, "c", c); err == nil || !strings.Contains(err.Error(), "already published by app b") {
				t.Errorf("Set(c) on b's port: %v, want already published by app b", err)
			}
			if err := s.Clear(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Bindings(ctx, "a"); len(got) != 0 {
				t.Errorf("after Clear, Bindings(a) = %v", got)
			}
			rules = save(t, ns, cmd)
			if strings.Contains(rules, "nd:a") || !strings.Contains(rules, "nd:b") {
				t.Errorf("after Clear(a) the rules are:\n%s", rules)
			}
		})
	}
}

// TestSwitchMovesNewConnectionsOnly opens a connection through the routed
// port, switches the port to another listener, and checks that a new
// connection reaches the new one while the first still talks to the old.
func TestSwitchMovesNewConnectionsOnly(t *testing.T) {
	ns := netns(t)
	ctx := context.Background()
	s, _ := switchIn(t, ns, "iptables")

	// Listeners and dials inside the namespace: a socket stays in the
	// namespace it was made in, whichever thread uses it later.
	var lnOld, lnNew net.Listener
	var dial func() (net.Conn, error)
	inNs(t, ns, func() {
		var err error
		if lnOld, err = net.Listen("tcp", "10.99.0.2:80"); err != nil {
			t.Fatal(err)
		}
		if lnNew, err = net.Listen("tcp", "10.99.0.3:80"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { lnOld.Close(); lnNew.Close() })
	for name, ln := range map[string]net.Listener{"old": lnOld, "new": lnNew} {
		go serveName(ln, name)
	}
	dial = func() (c net.Conn, err error) {
		inNs(t, ns, func() { c, err = net.DialTimeout("tcp", "10.99.0.1:8080", 2*time.Second) })
		return c, err
	}
	route := func(target string) Route {
		return Route{Bindings: []Binding{{Protocol: "tcp", HostPort: 8080, Target: addr(target), TargetPort: 80}}}
	}
	if err := s.Set(ctx, "app", route("10.99.0.2")); err != nil {
		t.Fatal(err)
	}
	first, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	r1 := bufio.NewReader(first)
	if got := ask(t, first, r1); got != "old" {
		t.Fatalf("first connection reached %q, want old", got)
	}
	if err := s.Set(ctx, "app", route("10.99.0.3")); err != nil {
		t.Fatal(err)
	}
	second, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if got := ask(t, second, bufio.NewReader(second)); got != "new" {
		t.Errorf("a connection after the switch reached %q, want new", got)
	}
	if got := ask(t, first, r1); got != "old" {
		t.Errorf("the established connection now reaches %q, want old", got)
	}
}

// inNs runs f on a thread moved into netns ns, then puts the thread back.
func inNs(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic(err) // a thread left in the wrong namespace must not be reused
		}
	}()
	f()
}

// serveName answers every line on every connection with name.
func serveName(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				fmt.Fprintln(c, name)
			}
		}()
	}
}

func ask(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(c, "who"); err != nil {
		t.Fatalf("writing: %v", err)
	}
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return strings.TrimSpace(l)
}

// TestUDP routes a UDP port, checks a datagram reaches the target and its
// answer comes back from the published address, then switches the port: the
// client's flow stays on the old target (its conntrack entry) until Forget
// drops it, and then reaches the new one.
func TestUDP(t *testing.T) {
	ns := netns(t)
	ctx := context.Background()
	s, _ := switchIn(t, ns, "iptables")
	var oldSrv, newSrv, cl net.PacketConn
	inNs(t, ns, func() {
		var err error
		if oldSrv, err = net.ListenPacket("udp", "10.99.0.2:5353"); err != nil {
			t.Fatal(err)
		}
		if newSrv, err = net.ListenPacket("udp", "10.99.0.3:5353"); err != nil {
			t.Fatal(err)
		}
		if cl, err = net.ListenPacket("udp", "10.99.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
	defer oldSrv.Close()
	defer newSrv.Close()
	defer cl.Close()
	for name, srv := range map[string]net.PacketConn{"old": oldSrv, "new": newSrv} {
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := srv.ReadFrom(buf)
				if err != nil {
					return
				}
				srv.WriteTo([]byte(name), from)
			}
		}()
	}
	route := func(target string) Route {
		return Route{Bindings: []Binding{{Protocol: "udp", HostPort: 53, Target: addr(target), TargetPort: 5353}}}
	}
	published := &net.UDPAddr{IP: net.ParseIP("10.99.0.1"), Port: 53}
	ask := func() string {
		t.Helper()
		if _, err := cl.WriteTo([]byte("who"), published); err != nil {
			t.Fatal(err)
		}
		cl.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, from, err := cl.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer through the routed UDP port: %v", err)
		}
		if from.String() != published.String() {
			t.Errorf("answer from %v, want %v", from, published)
		}
		return string(buf[:n])
	}
	if err := s.Set(ctx, "dns", route("10.99.0.2")); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != "old" {
		t.Fatalf("first datagram reached %q, want old", got)
	}
	if err := s.Set(ctx, "dns", route("10.99.0.3")); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != "old" {
		t.Errorf("after the switch the same flow reached %q, want old (its conntrack entry)", got)
	}
	var n int
	var err error
	inNs(t, ns, func() { n, err = s.Forget(ctx, addr("10.99.0.2")) })
	if err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v; want 1 entry", n, err)
	}
	if got := ask(); got != "new" {
		t.Errorf("after Forget the flow reached %q, want new", got)
	}
}

// TestIPv6 routes a port with ip6tables, switches it, and checks that a new
// connection reaches the new target and an established one stays.
func TestIPv6(t *testing.T) {
	ns := netns(t)
	testutil.RequireCommands(t, "ip6tables", "ip6tables-restore")
	for _, c := range [][]string{
		{"ip", "addr", "add", "fd00:99::1/64", "dev", "nd0", "nodad"},
		{"ip", "addr", "add", "fd00:99::2/64", "dev", "nd0", "nodad"},
		{"ip", "addr", "add", "fd00:99::3/64", "dev", "nd0", "nodad"},
	} {
		if out, err := inNetns(ns, c...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	ctx := context.Background()
	s, _ := switchIn(t, ns, "ip6tables")
	s.opts.IPv6 = true
	var lnOld, lnNew net.Listener
	inNs(t, ns, func() {
		var err error
		if lnOld, err = net.Listen("tcp", "[fd00:99::2]:80"); err != nil {
			t.Fatal(err)
		}
		if lnNew, err = net.Listen("tcp", "[fd00:99::3]:80"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { lnOld.Close(); lnNew.Close() })
	go serveName(lnOld, "old")
	go serveName(lnNew, "new")
	dial := func() (c net.Conn, err error) {
		inNs(t, ns, func() { c, err = net.DialTimeout("tcp", "[fd00:99::1]:8080", 2*time.Second) })
		return c, err
	}
	route := func(target string) Route {
		return Route{Subnet: netip.MustParsePrefix("fd00:99::/64"), Bindings: []Binding{{Protocol: "tcp", HostPort: 8080, Target: addr(target), TargetPort: 80}}}
	}
	if err := s.Set(ctx, "app", Route{Bindings: []Binding{{Protocol: "tcp", HostPort: 8080, Target: addr("10.0.0.1"), TargetPort: 80}}}); err == nil {
		t.Errorf("an IPv6 switch took an IPv4 target")
	}
	if err := s.Set(ctx, "app", route("fd00:99::2")); err != nil {
		t.Fatal(err)
	}
	first, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	r1 := bufio.NewReader(first)
	if got := ask(t, first, r1); got != "old" {
		t.Fatalf("first connection reached %q, want old", got)
	}
	if err := s.Set(ctx, "app", route("fd00:99::3")); err != nil {
		t.Fatal(err)
	}
	second, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if got := ask(t, second, bufio.NewReader(second)); got != "new" {
		t.Errorf("a connection after the switch reached %q, want new", got)
	}
	if got := ask(t, first, r1); got != "old" {
		t.Errorf("the established connection now reaches %q, want old", got)
	}
	if got, _ := s.Bindings(ctx, "app"); fmt.Sprint(got) != "[8080->[fd00:99::3]:80/tcp]" {
		t.Errorf("Bindings = %v", got)
	}
}

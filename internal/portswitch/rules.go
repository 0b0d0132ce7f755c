package portswitch

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The rules' text: what nd writes, how it reads back what iptables -S
// prints, and the check that a port is free.

// ruleApp is the app named by a rule's nd:APP comment, "" if none.
func ruleApp(rule string) string {
	f := fields(rule)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--comment" {
			if app, ok := strings.CutPrefix(f[i+1], "nd:"); ok {
				return app
			}
		}
	}
	return ""
}

// fields splits an iptables -S line; comments nd writes have no spaces,
// but iptables-nft prints them quoted.
func fields(rule string) []string {
	f := strings.Fields(rule)
	for i := range f {
		f[i] = strings.Trim(f[i], `"`)
	}
	return f
}

// rules are the app's rules for r, per chain.
func rules(app string, r Route) (dnat, snat, fwd []string) {
	host := func(a string) string {
		if strings.Contains(a, ":") {
			return a + "/128"
		}
		return a + "/32"
	}
	c := comment(app)
	seen := map[string]bool{}
	for _, b := range r.Bindings {
		d := []string{"-A", ChainDNAT, "-p", b.Protocol}
		if b.HostIP != "" {
			d = append(d, "-d", host(b.HostIP))
		}
		to := netip.AddrPortFrom(b.Target, uint16(b.TargetPort)).String()
		d = append(d, "--dport", strconv.Itoa(b.HostPort), "-m", "comment", "--comment", c, "-j", "DNAT", "--to-destination", to)
		dnat = append(dnat, strings.Join(d, " "))
		// One SNAT and one accept per target, however many host ports lead there.
		key := b.Protocol + " " + to
		if seen[key] {
			continue
		}
		seen[key] = true
		dst := fmt.Sprintf("-d %s -p %s --dport %d", host(b.Target.String()), b.Protocol, b.TargetPort)
		snat = append(snat, fmt.Sprintf("-A %s %s -m addrtype --src-type LOCAL -m conntrack --ctstate DNAT -m comment --comment %s -j MASQUERADE", ChainSNAT, dst, c))
		if r.Subnet.IsValid() {
			snat = append(snat, fmt.Sprintf("-A %s -s %s %s -m conntrack --ctstate DNAT -m comment --comment %s -j MASQUERADE", ChainSNAT, r.Subnet.Masked(), dst, c))
		}
		fwd = append(fwd, fmt.Sprintf("-A %s %s -m conntrack --ctstate DNAT -m comment --comment %s -j ACCEPT", ChainForward, dst, c))
	}
	return dnat, snat, fwd
}

// parseDNAT reads a rule nd wrote, as iptables -S prints it.
func parseDNAT(rule string) (Binding, error) {
	var b Binding
	f := fields(rule)
	for i := 0; i+1 < len(f); i++ {
		switch v := f[i+1]; f[i] {
		case "-p":
			b.Protocol = v
		case "-d":
			b.HostIP = strings.TrimSuffix(strings.TrimSuffix(v, "/32"), "/128")
		case "--dport":
			b.HostPort, _ = strconv.Atoi(v)
		case "--to-destination":
			ap, err := netip.ParseAddrPort(v)
			if err != nil {
				return b, fmt.Errorf("rule %q: %w", rule, err)
			}
			b.Target, b.TargetPort = ap.Addr(), int(ap.Port())
		}
	}
	if b.Protocol == "" || b.HostPort == 0 || !b.Target.IsValid() {
		return b, fmt.Errorf("rule %q is not one of nd's", rule)
	}
	return b, nil
}

// writeTable writes one iptables-restore table section; a declared user
// chain is flushed under --noflush, then refilled with rules.
func writeTable(w io.Writer, table string, chains map[string][]string) {
	fmt.Fprintf(w, "*%s\n", table)
	names := make([]string, 0, len(chains))
	for c := range chains {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		fmt.Fprintf(w, ":%s - [0:0]\n", c)
	}
	for _, c := range names {
		for _, r := range chains[c] {
			fmt.Fprintln(w, r)
		}
	}
	fmt.Fprintln(w, "COMMIT")
}

func concat(a, b []string) []string { return append(append([]string{}, a...), b...) }

func union(a, b []string) []string {
	out := append([]string{}, a...)
	have := map[string]bool{}
	for _, r := range a {
		have[normalize(r)] = true
	}
	for _, r := range b {
		if !have[normalize(r)] {
			out = append(out, r)
		}
	}
	return out
}

// equalRules compares the app's current DNAT rules (as printed) with the
// wanted ones (as written) by what they route.
func equalRules(cur, want []string) bool {
	if len(cur) != len(want) {
		return false
	}
	a, b := map[string]bool{}, map[string]bool{}
	for _, r := range cur {
		if bd, err := parseDNAT(r); err == nil {
			a[bd.String()] = true
		}
	}
	for _, r := range want {
		if bd, err := parseDNAT(r); err == nil {
			b[bd.String()] = true
		}
	}
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// normalize makes a printed rule and a written one comparable enough for
// union: iptables -S adds "-m tcp" and quotes.
func normalize(r string) string {
	f := fields(r)
	out := f[:0]
	for i := 0; i < len(f); i++ {
		if f[i] == "-m" && i+1 < len(f) && (f[i+1] == "tcp" || f[i+1] == "udp") {
			i++
			continue
		}
		out = append(out, f[i])
	}
	return strings.Join(out, " ")
}

// CheckFree returns an error naming the first binding whose host port a
// program on this host (the caller's network namespace) holds a socket on.
// nd's rules would take such a port from it unannounced, as Docker's
// userland proxy would have refused to start; routed ports have no socket,
// so they pass.
func (s *Switch) CheckFree(bs []Binding) error {
	for _, b := range bs {
		ip, fam := b.HostIP, "4"
		if s.opts.IPv6 {
			fam = "6"
		}
		if ip == "" {
			ip = map[string]string{"4": "0.0.0.0", "6": "::"}[fam]
		}
		addr := net.JoinHostPort(ip, strconv.Itoa(b.HostPort))
		var err error
		if b.Protocol == "udp" {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp"+fam, addr); err == nil {
				pc.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp"+fam, addr); err == nil {
				l.Close()
			}
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("host port %s/%s is in use by a program on the host; free it or publish another port", addr, b.Protocol)
		}
	}
	return nil
}

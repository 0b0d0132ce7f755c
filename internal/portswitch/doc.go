// Package portswitch lets nd-agent own an app's published host ports as
// iptables DNAT rules, so a deploy can move new connections from the old
// container to the new one in one atomic step while established
// connections stay where they are (NAT is decided when a connection's
// conntrack entry is created; later rule changes do not touch it).
//
// Containers publish no host port themselves; for each binding the agent
// keeps, in chains of its own (jumped to first, so Docker's chains never
// see these connections):
//
//   - nat ND-DNAT (from PREROUTING and OUTPUT, local destinations only):
//     DNAT HOSTPORT to CONTAINER-IP:PORT, for connections from outside, from
//     other containers and from the host itself (localhost:PORT, which needs
//     route_localnet on the container's bridge, as Docker sets it without its
//     userland proxy);
//   - nat ND-SNAT (from POSTROUTING): MASQUERADE for connections whose source
//     is the host (127.0.0.1 cannot leave on a bridge) or the container's own
//     subnet (hairpin: the reply must come back through the host to be
//     un-NATed);
//   - filter ND-FORWARD (from DOCKER-USER, the chain Docker leaves to its
//     users and jumps to before its own): ACCEPT the DNATed connections,
//     which Docker's FORWARD rules (DROP policy, and Docker 28's drops for
//     unpublished ports) would refuse.
//
// Every rule carries the comment nd:APP, and iptables itself is the record:
// Set rewrites the app's rules with iptables-restore --noflush (each table is
// one atomic commit; the filter accept for the new target is committed
// before the nat switch, so no new connection meets a closed door), and
// Bindings reads them back. Rules use the `iptables` command Docker uses on
// the host, legacy or nf_tables. They do not survive a reboot: the agent
// re-creates them from its containers' nd.ports labels when it starts and
// whenever a live container starts (see dockerrt's KeepPorts).
//
// A Switch is of one family (Options.IPv6: ip6tables). Docker publishes
// IPv6 only with ipv6 on in daemon.json, when containers have IPv6
// addresses; IPv6 has no route_localnet, so ::1 is not routed (the host's
// other addresses are).
package portswitch

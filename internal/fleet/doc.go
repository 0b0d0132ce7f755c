// Package fleet starts simulated droplets on this machine: each droplet is a
// network namespace joined to the caller's by a veth pair (its own /30 in
// 10.213.0.0/16), a private mount namespace held open by a long-lived holder
// process (own tmpfs /run, own /tmp and /var/lib, copy-on-write overlays of
// /etc, /root, /usr/local, /opt and /srv, own /nix store or none), its
// own dockerd on /run/docker.sock and its own sshd on Addr:22 that accepts a
// generated client key for root.
//
// Droplets are torn down by Fleet.Close, by ForTest's cleanup, by
// `nd-fleet down`, or — when the process that started them died — by the next
// Start or `nd-fleet down --all`. Their state lives in /run/nd-fleet/NAME
// (small: keys, configs, logs, state.json) and /var/lib/nd-fleet/NAME (bulk:
// the droplet's /nix, /var/lib, /tmp).
//
// Only tests (through ForTest) and cmd/nd-fleet import this package; it needs
// root, iproute2, util-linux (nsenter, unshare, mount), dockerd and sshd.
package fleet

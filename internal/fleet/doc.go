// Package fleet starts simulated droplets on this machine, for nd's tests and
// the README demo. Only tests (through ForTest) and cmd/nd-fleet import it.
//
// There are two kinds of droplet (Options.Kind). A Bookworm droplet runs this
// machine's own Debian 12 programs as plain processes:
//   - a network namespace (ndf-NAME) joined to the caller's by a veth pair
//     (caller side ndfINDEX = HostAddr, droplet side eth0 = Addr, a /30 from
//     10.213.0.0/16 allocated under a lock in /run/nd-fleet, so concurrent
//     test binaries never collide), optionally shaped with tbf;
//   - a private mount namespace held open by a holder process (a shell
//     running /run/nd-fleet/NAME/holder.sh): own tmpfs /run, own /tmp and
//     /var/lib, copy-on-write overlays of /etc, /root, /usr/local, /opt and
//     /srv, and either its own empty Nix store at /nix (Options.Nix) or an
//     empty read-only /nix with every nix* program hidden from /usr/bin;
//   - its own dockerd on /run/docker.sock (unless Options.NoDocker);
//   - its own sshd on Addr:22: a generated ed25519 host key, root login with
//     a generated client key only, internal-sftp, stream-local forwarding
//     (unless Options.NoStreamLocalForwarding).
//
// A Modern droplet boots Debian sid (RootfsDir, made by scripts/sid-rootfs.sh)
// with systemd 262 as PID 1 under systemd-nspawn, in the same kind of network
// namespace and link:
//   - its disk is an overlay of RootfsDir with an upper directory of its own,
//     prepared before the first boot (host key, authorized_keys, hostname,
//     machine-id, /etc/docker/daemon.json, the Nix variant) and kept across
//     Reboot; /var/lib/docker, /var/lib/containerd and /nix are plain
//     directories bound in (overlay2 and the containerd snapshotter cannot
//     sit on overlayfs);
//   - sshd, containerd, dockerd 28.5 (Options.ContainerdStore switches on the
//     containerd image store) and nix-daemon (Nix 2.34, as Debian lays it out
//     or, Options.NixLayout, as the official installer does) run as units;
//   - a holder (/run/nd-fleet/NAME/holder.sh, in a private mount namespace
//     that holds the overlay mount) moves itself into cgroups of its own on
//     the unified hierarchy (systemd ≥ 258 refuses cgroup v1, which this
//     machine mounts) and runs systemd-nspawn, again whenever the droplet
//     reboots; SIGTERM to it powers the droplet off cleanly.
//
// Exec, Command and Start enter a modern droplet's PID 1's namespaces (mount,
// network, PID, UTS, IPC; Start leaves its process a child of that PID 1);
// Stop and Running of "sshd" and "dockerd" act on their units; Systemctl and
// Reboot exist only there. Matrix and RunMatrix run a test over the
// variants; ND_FLEET_KIND=modern makes ForTest's droplets modern where a
// test asks for no kind.
//
// A bookworm droplet shares the machine's process table (no PID namespace):
// ps inside shows everything. Processes run inside with Droplet.Exec, Droplet.Command (nsenter
// --target HOLDER --mount --net) or, in the background, Droplet.Start, whose
// output goes to /run/nd-fleet/NAME/logs/PROCESS.log (dockerd.log and
// sshd.log are there too). Droplet.SSHConfig is an ssh_config with a Host
// entry for the droplet (ssh -F FILE NAME works).
//
// Everything of a droplet is removed by Fleet.Close, ForTest's cleanup (which
// then fails the test if anything is left), a SIGINT/SIGTERM of a test using
// ForTest, or `nd-fleet down`. A droplet whose creating process died without
// that is stale and is removed by the next Start or `nd-fleet down --all`.
// Processes are ended by PID (checked against their start time), never by
// name. State lives in /run/nd-fleet/NAME (keys, configs, logs, state.json)
// and /var/lib/nd-fleet/NAME (the droplet's /nix, /var/lib, /tmp, overlays),
// which is the droplet's own disk: a journaled ext4 in the sparse image
// /var/lib/nd-fleet/NAME.disk on a loop device (disk.go).
//
// Needs root, iproute2 (ip, tc), util-linux (nsenter, unshare, mount,
// losetup), e2fsprogs (mkfs.ext4), loop devices,
// dockerd and sshd (bookworm), systemd-nspawn and RootfsDir (modern);
// scripts/setup.sh installs them.
package fleet

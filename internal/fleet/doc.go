// Package fleet starts simulated droplets on this machine, for nd's tests and
// the README demo. Only tests (through ForTest) and cmd/nd-fleet import it.
//
// A droplet is:
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
// The machine's process table is shared (no PID namespace): ps inside shows
// everything. Processes run inside with Droplet.Exec, Droplet.Command (nsenter
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
// and /var/lib/nd-fleet/NAME (the droplet's /nix, /var/lib, /tmp, overlays).
//
// Needs root, iproute2 (ip, tc), util-linux (nsenter, unshare, mount),
// dockerd and sshd; scripts/setup.sh installs them.
package fleet

#!/usr/bin/env bash
# setup.sh prepares nd's TEST MACHINE (Debian 12, as root): packages, Nix
# configured for a machine without internet, the modern droplets' root
# filesystem, and a running "laptop" dockerd. scripts/test.sh and
# scripts/demo.sh run it. It is idempotent and returns in well under a second
# when everything is already in place.
#
# It writes `substituters =` (no binary caches) and `sandbox = false` into
# /etc/nix/nix.conf. That is right for the test machine, which reaches no
# binary cache, and wrong for a laptop, whose builds would then compile what
# they used to download. So it changes nix.conf only on a machine that says it
# is the test machine: ND_TEST_MACHINE=1, or CI=true, or a nix.conf that
# already has both lines (setup ran here before), or no Nix before this script
# installed Debian's (a fresh machine has no caches to lose); on a terminal it asks,
# otherwise it refuses and changes nothing. ND_TEST_MACHINE=0 leaves nix.conf
# alone (tests then use whatever caches it names).
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "must run as root"
	exit 1
fi

# A machine that had no Nix before this script installs Debian's has no binary
# caches of its own to lose: it is a fresh test machine.
nix_was_here=0
if command -v nix-build >/dev/null 2>&1 || [ -e /nix/var/nix/profiles/default/bin/nix-build ]; then
	nix_was_here=1
fi

# --- packages -----------------------------------------------------------------
# Package -> a file it installs, so the common case needs no dpkg/apt at all.
declare -A want=(
	[nix-bin]=/usr/bin/nix-build
	[docker.io]=/usr/sbin/dockerd
	[openssh-server]=/usr/sbin/sshd
	[openssh-client]=/usr/bin/ssh
	[busybox-static]=/bin/busybox
	[iproute2]=/usr/sbin/ip
	[util-linux]=/usr/bin/nsenter
	[e2fsprogs]=/usr/sbin/mkfs.ext4 # each fleet droplet's disk: a journaled ext4 on a loop device
	[mount]=/usr/bin/mount
	[procps]=/usr/bin/pkill
	[zstd]=/usr/bin/zstd
	[patchelf]=/usr/bin/patchelf
	[redis-server]=/usr/bin/redis-server
	[apache2-bin]=/usr/sbin/apache2 # the httpd example imports it as pkgs.apacheHttpd
	[media-types]=/etc/mime.types   # its conf/mime.types
	[iptables]=/usr/sbin/iptables # nf_tables and legacy: the portswitch tests run on both
	[curl]=/usr/bin/curl # the overlap test asks localhost:PORT inside a droplet
	[git]=/usr/bin/git
	[ca-certificates]=/etc/ssl/certs/ca-certificates.crt
	[sudo]=/usr/bin/sudo # non-root SSH logins in the fleet tests (sudo -n)
	[systemd]=/usr/bin/systemd-analyze # verifies the nd-agent unit (nothing is started)
	[systemd-container]=/usr/bin/systemd-nspawn # boots the fleet's modern droplets
	[debootstrap]=/usr/sbin/debootstrap         # makes their root filesystem
	[docker-registry]=/usr/bin/docker-registry # the reference OCI registry: nd-push build -b --push tests
	[zsh]=/usr/bin/zsh   # nd-push's completion scripts must load in zsh and fish too
	[fish]=/usr/bin/fish
)
missing=()
for p in "${!want[@]}"; do
	[ -e "${want[$p]}" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# apt-get update only when the lists are missing or older than a day.
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null)" ]; then
		apt-get update -q
	fi
	# Never let the package scripts start services (there is no init system here).
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- Nix, offline, no daemon ---------------------------------------------------
conf=/etc/nix/nix.conf
mkdir -p /etc/nix
touch "$conf"
offline_conf() {
	grep -Eq '^[[:space:]]*substituters[[:space:]]*=[[:space:]]*$' "$conf" &&
		grep -Eq '^[[:space:]]*sandbox[[:space:]]*=[[:space:]]*false[[:space:]]*$' "$conf"
}
test_machine="${ND_TEST_MACHINE:-}"
if [ -z "$test_machine" ]; then
	if [ "${CI:-}" = true ] || offline_conf || [ "$nix_was_here" = 0 ]; then
		test_machine=1
	elif [ -t 0 ] && [ -t 2 ]; then
		printf 'setup: this makes the machine nd'"'"'s test machine: %s gets "substituters =" (no binary\n' "$conf" >&2
		printf 'setup: caches: every Nix build here compiles instead of downloading) and "sandbox = false".\n' >&2
		printf 'setup: On a laptop say no (or run with ND_TEST_MACHINE=0). Go ahead? [y/N] ' >&2
		read -r answer
		case "$answer" in y | Y | yes) test_machine=1 ;; *) test_machine=0 ;; esac
	else
		log "not changing $conf: it would switch off this machine's binary caches (substituters =)."
		log "on nd's test machine run with ND_TEST_MACHINE=1 (CI=true does the same); ND_TEST_MACHINE=0 skips this step"
		exit 1
	fi
fi
if [ "$test_machine" = 1 ]; then
	if ! grep -Eq '^[[:space:]]*substituters[[:space:]]*=[[:space:]]*$' "$conf"; then
		sed -i -E '/^[[:space:]]*substituters[[:space:]]*=/d' "$conf"
		echo 'substituters =' >>"$conf"
	fi
	if ! grep -Eq '^[[:space:]]*sandbox[[:space:]]*=[[:space:]]*false[[:space:]]*$' "$conf"; then
		sed -i -E '/^[[:space:]]*sandbox[[:space:]]*=/d' "$conf"
		echo 'sandbox = false' >>"$conf"
	fi
	# Root builds without a daemon use the nixbld build users when the group
	# exists; make sure it has members, or turn build users off.
	if getent group nixbld >/dev/null; then
		if [ -z "$(getent group nixbld | cut -d: -f4)" ]; then
			for i in $(seq 1 8); do
				id "nixbld$i" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /var/empty \
					--shell /usr/sbin/nologin --gid nixbld --groups nixbld "nixbld$i"
			done
		fi
	elif ! grep -Eq '^[[:space:]]*build-users-group[[:space:]]*=' "$conf"; then
		echo 'build-users-group =' >>"$conf"
	fi
else
	log "leaving $conf and Nix's build users as they are (ND_TEST_MACHINE=0)"
fi
mkdir -p /nix/var/nix/gcroots /nix/var/nix/profiles

# Check once (marker keyed on the config and the nix binary) that a trivial
# derivation with a busybox builder builds offline.
stamp=/var/lib/nd-setup/nix-ok
sum="$(cat "$conf" /usr/bin/nix-build | md5sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/bb/bin"
	cp /bin/busybox "$tmp/bb/bin/busybox"
	ln -s busybox "$tmp/bb/bin/sh"
	cat >"$tmp/t.nix" <<'NIX'
{ bb }:
let b = builtins.path { path = bb; name = "nd-setup-busybox"; };
in derivation {
  name = "nd-setup-check";
  system = builtins.currentSystem;
  builder = "${b}/bin/sh";
  args = [ "-c" "${b}/bin/busybox mkdir $out && ${b}/bin/busybox echo ok > $out/ok" ];
}
NIX
	out="$(timeout 120 nix-build --no-out-link "$tmp/t.nix" --arg bb "$tmp/bb")"
	if [ "$(cat "$out/ok")" != ok ]; then
		log "nix-build of a trivial derivation did not produce the expected output"
		exit 1
	fi
	mkdir -p "$(dirname "$stamp")"
	echo "$sum" >"$stamp"
	log "nix-build works offline"
fi

# --- root filesystem of modern droplets ------------------------------------------
# Debian sid (systemd, docker.io 28, nix-bin 2.34), built once and cached;
# sid-rootfs.sh returns at once when its tarball and tree are in place.
bash "$(dirname "$0")/sid-rootfs.sh"

# --- laptop dockerd ------------------------------------------------------------
if ! timeout 10 docker info >/dev/null 2>&1; then
	if [ -S /var/run/docker.sock ] && [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
		log "dockerd (pid $(cat /var/run/docker.pid)) is running but not answering yet; waiting"
	else
		log "starting dockerd"
		setsid nohup dockerd --data-root /var/lib/docker -H unix:///var/run/docker.sock \
			--pidfile /var/run/docker.pid >>/var/log/nd-dockerd.log 2>&1 </dev/null &
	fi
	for _ in $(seq 1 120); do
		if timeout 5 docker info >/dev/null 2>&1; then
			break
		fi
		sleep 0.5
	done
	if ! timeout 10 docker info >/dev/null 2>&1; then
		log "dockerd did not answer within 60s; see /var/log/nd-dockerd.log"
		tail -n 20 /var/log/nd-dockerd.log >&2 || true
		exit 1
	fi
	log "dockerd is up"
fi

#!/usr/bin/env bash
# sid-rootfs.sh builds, once per machine, the Debian sid root filesystem that
# the fleet's "modern" droplets boot (systemd as PID 1, docker.io 28, nix-bin
# 2.34). setup.sh calls it; it may also run on its own (as root).
#
# Results, keyed on the recipe below (suite + package list + recipe version):
#   $ND_ROOTFS_CACHE/sid-rootfs-KEY.tar.zst   the tarball a later run unpacks
#                                             instead of downloading again
#   $ND_ROOTFS_CACHE/sid-rootfs/              the unpacked tree, used read-only
#                                             (droplets put an overlay on it)
#   $ND_ROOTFS_CACHE/sid-rootfs/.nd-ready     holds KEY; written last, so its
#                                             presence means the tree is whole
# With both in place it returns at once.
set -euo pipefail

log() { printf 'sid-rootfs: %s\n' "$*" >&2; }

cache="${ND_ROOTFS_CACHE:-/var/cache/nd-fleet}"
debs="${ND_DEB_CACHE:-/var/cache/nd-debs}"
mirror="${ND_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=sid
# Bump when the configuration steps below change what the tree holds.
recipe=2
# debootstrap does not resolve virtual packages (nix-bin's libdbd-sqlite3-perl
# needs perl-dbdabi-94), so it only lays down minbase; apt installs the rest.
# docker-cli and libpam-systemd are only Recommends, which real droplets get.
pkgs=(systemd systemd-sysv dbus libpam-systemd openssh-server docker.io docker-cli nix-bin
	nix-setup-systemd iproute2 iptables curl busybox-static zstd ca-certificates procps sudo)

key="$(printf '%s\n' "$suite" "$recipe" "${pkgs[@]}" | sha256sum | cut -c1-12)"
tree="$cache/sid-rootfs"
tarball="$cache/sid-rootfs-$key.tar.zst"

ready() { [ "$(cat "$tree/.nd-ready" 2>/dev/null)" = "$key" ] && [ -f "$tarball" ]; }
if ready; then
	exit 0
fi
mkdir -p "$cache" "$debs/partial"
# One builder at a time (setup.sh may run in several places at once); the
# others wait and then find the tree ready.
exec 9>"$cache/.sid-rootfs.lock"
flock -n 9 || { log "another sid-rootfs.sh is building; waiting for it"; flock 9; }
if ready; then
	exit 0
fi

# Ready trees are never changed in place: droplets may have overlays on one.
# A tree of another recipe is moved aside and removed when nothing uses it.
retire() {
	local old="$1"
	[ -e "$old" ] || return 0
	local aside="$cache/sid-rootfs.old.$$"
	mv "$old" "$aside"
	# Droplets mount their overlays in mount namespaces of their own.
	if grep -qs "lowerdir=$old" /proc/[0-9]*/mountinfo; then
		log "kept $aside: an overlay still uses it"
	else
		rm -rf "$aside"
	fi
}

# build makes the tree in $1 from Debian's archive.
build() {
	local dir="$1"
	log "debootstrap $suite into $dir (debs cached in $debs)"
	debootstrap --variant=minbase --cache-dir="$debs" "$suite" "$dir" "$mirror" >&2
	# The sid mirror's Release file is past its Valid-Until date.
	echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99nd-valid-until"
	# Package scripts must not start services: nothing runs in the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	mkdir -p "$dir/var/cache/apt/archives"
	# A private mount namespace drops /proc and the deb-cache bind mount
	# however this step ends.
	unshare -m --propagation private bash -euo pipefail -c '
		dir="$1"; debs="$2"; shift 2
		mount -t proc proc "$dir/proc"
		mount --bind "$debs" "$dir/var/cache/apt/archives"
		chroot "$dir" apt-get update -q
		DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -q --no-install-recommends "$@"
	' bash "$dir" "$debs" "${pkgs[@]}" >&2
	rm -f "$dir/usr/sbin/policy-rc.d"
	configure "$dir"
}

# configure makes the settings every modern droplet shares. What differs per
# droplet (host key, authorized_keys, daemon.json, Nix layout) the fleet writes
# into each droplet's overlay before it boots.
configure() {
	local dir="$1"
	# Host keys are per droplet (known_hosts must be exact), written before
	# boot: only the ed25519 one, and no first-boot key generation.
	rm -f "$dir"/etc/ssh/ssh_host_*
	printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nUseDNS no\n' \
		>"$dir/etc/ssh/sshd_config.d/10-nd-fleet.conf"
	ln -sf /dev/null "$dir/etc/systemd/system/sshd-keygen.service"
	# machine-id and hostname are per droplet too.
	: >"$dir/etc/machine-id"
	rm -f "$dir/var/lib/dbus/machine-id" "$dir/etc/hostname"
	# Mark /etc and /var up to date with /usr, so no droplet's first boot
	# runs ldconfig and friends (ConditionNeedsUpdate).
	chroot "$dir" ldconfig
	chroot "$dir" /usr/lib/systemd/systemd-update-done
	# Offline Nix: an unreachable binary cache would stall every build.
	mkdir -p "$dir/etc/nix"
	touch "$dir/etc/nix/nix.conf"
	sed -i -E '/^[[:space:]]*substituters[[:space:]]*=/d' "$dir/etc/nix/nix.conf"
	echo 'substituters =' >>"$dir/etc/nix/nix.conf"
	# No login prompts on the pipe console; no timers that wake the droplet.
	for u in console-getty.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
		e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$dir/etc/systemd/system/$u"
	done
	rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/log/apt/* "$dir"/var/log/dpkg.log
}

if [ "$(cat "$tree/.nd-ready" 2>/dev/null)" != "$key" ]; then
	new="$cache/sid-rootfs.new"
	rm -rf "$new"
	if [ -f "$tarball" ]; then
		log "unpacking $tarball"
		mkdir -p "$new"
		tar -C "$new" --numeric-owner --xattrs --xattrs-include='*' -I zstd -xpf "$tarball"
	else
		build "$new"
		echo "$key" >"$new/.nd-ready"
	fi
	retire "$tree"
	mv "$new" "$tree"
fi

if [ ! -f "$tarball" ]; then
	log "packing $tarball"
	tar -C "$tree" --numeric-owner --xattrs --xattrs-include='*' -I 'zstd -T0 -6' -cpf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	# Tarballs of earlier recipes are of no further use.
	find "$cache" -maxdepth 1 -name 'sid-rootfs-*.tar.zst' ! -name "sid-rootfs-$key.tar.zst" -delete
fi
log "ready: $tree ($(du -sh "$tree" | cut -f1), tarball $(du -h "$tarball" | cut -f1))"

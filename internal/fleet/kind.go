package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kind is what a droplet runs.
type Kind string

const (
	// Bookworm droplets run this machine's own Debian 12 programs (Nix 2.8,
	// docker.io 20.10, OpenSSH 9.2) as plain processes: no init system.
	Bookworm Kind = "bookworm"
	// Modern droplets boot Debian sid with systemd 262 as PID 1 under
	// systemd-nspawn: sshd, containerd, dockerd 28.5 and nix-daemon (Nix
	// 2.34) run as units, as on a droplet made today.
	Modern Kind = "modern"
)

// NixLayout says where a modern droplet's Nix is installed.
type NixLayout string

const (
	// NixDebian is Debian's nix-bin: the tools in /usr/bin.
	NixDebian NixLayout = "debian"
	// NixInstaller is the layout of the official and Determinate installers:
	// the tools only in /nix/var/nix/profiles/default/bin (no nix* in
	// /usr/bin, not on the default PATH), nix-daemon started from there.
	NixInstaller NixLayout = "installer"
)

// nspawnPropagate holds the directory systemd-nspawn makes for each machine
// on the machine's /run; nspawn removes it when it exits, unless killed.
// Teardown removes a droplet's; nothing else here is touched, as other
// users of nspawn on the machine keep theirs there too.
const nspawnPropagate = "/run/systemd/nspawn/propagate"

// RootfsDir is the Debian sid tree modern droplets boot (read-only; each
// droplet writes to an overlay of it). scripts/sid-rootfs.sh makes it.
const RootfsDir = "/var/cache/nd-fleet/sid-rootfs"

// rootfsReadyFile exists once RootfsDir is complete.
const rootfsReadyFile = RootfsDir + "/.nd-ready"

// RootfsReady says whether modern droplets can boot: their root filesystem
// is complete and systemd-nspawn is installed.
func RootfsReady() error {
	if _, err := os.Stat(rootfsReadyFile); err != nil {
		return fmt.Errorf("modern droplets need the root filesystem %s (run scripts/setup.sh): %w", RootfsDir, err)
	}
	if _, err := os.Stat(nspawnPath); err != nil {
		return fmt.Errorf("modern droplets need systemd-nspawn (run scripts/setup.sh): %w", err)
	}
	return nil
}

func (o Options) kind() Kind {
	if o.Kind == "" {
		return Bookworm
	}
	return o.Kind
}

func (o Options) nixLayout() NixLayout {
	if o.Kind == Modern && o.Nix && o.NixLayout == "" {
		return NixDebian
	}
	return o.NixLayout
}

// check rejects combinations the droplet kinds do not offer.
func (o Options) check() error {
	switch o.kind() {
	case Bookworm:
		if o.ContainerdStore {
			return errors.New("the containerd image store needs modern droplets (docker.io 20.10 lacks it)")
		}
		if o.NixLayout != "" {
			return fmt.Errorf("Nix layout %q needs modern droplets", o.NixLayout)
		}
	case Modern:
		if o.NixLayout != "" && !o.Nix {
			return fmt.Errorf("Nix layout %q given for droplets without Nix", o.NixLayout)
		}
		if l := o.NixLayout; l != "" && l != NixDebian && l != NixInstaller {
			return fmt.Errorf("unknown Nix layout %q (want %q or %q)", l, NixDebian, NixInstaller)
		}
		if o.ContainerdStore && o.NoDocker {
			return errors.New("the containerd image store is asked for droplets without Docker")
		}
	default:
		return fmt.Errorf("unknown droplet kind %q (want %q or %q)", o.Kind, Bookworm, Modern)
	}
	return nil
}

// cgroupDirs are the directories a modern droplet's holder moves itself into
// before it runs systemd-nspawn. systemd ≥ 258 refuses cgroup v1, so on a
// host with v1 (this machine mounts v1 plus a cgroup2 at unified/) the
// holder needs a cgroup of its own on the unified hierarchy, and one on the
// name=systemd hierarchy so nspawn does not pick the caller's.
func cgroupDirs(name string) []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup", "nd-fleet", name)} // cgroup v2 only
	}
	var out []string
	for _, h := range []string{"unified", "systemd"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, "cgroup.procs")); err == nil {
			out = append(out, filepath.Join("/sys/fs/cgroup", h, "nd-fleet", name))
		}
	}
	return out
}

// removeCgroups removes a droplet's cgroup directories, innermost first (the
// droplet's systemd and nspawn made sub-cgroups). They must be empty of
// processes by now.
func removeCgroups(name string) error {
	var errs []error
	for _, dir := range cgroupDirs(name) {
		if err := rmdirTree(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// rmdirTree removes dir and the directories below it with rmdir only, as
// cgroup file systems require.
func rmdirTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// removeOrphanCgroups removes fleet cgroups of droplets not in keep, whose
// state is gone. rmdir refuses a cgroup that
// still has processes, so a live droplet's cgroup is never lost.
func removeOrphanCgroups(keep []string) {
	k := map[string]bool{}
	for _, n := range keep {
		k[n] = true
	}
	for _, l := range cgroupLeftovers(k) {
		rmdirTree(strings.TrimPrefix(l, "cgroup "))
	}
}

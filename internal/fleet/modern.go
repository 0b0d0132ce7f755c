package fleet

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// nspawnPath is the machine's systemd-nspawn (Debian 12's, systemd 252).
const nspawnPath = "/usr/bin/systemd-nspawn"

// installerBin is where the official Nix installer puts the tools.
const installerBin = "/nix/var/nix/profiles/default/bin"

// A modern droplet's data directory (dataDir) holds:
//
//	upper/, work/  its overlay on RootfsDir: the droplet's disk, kept across
//	               reboots, written before the first boot with its host key,
//	               authorized_keys, daemon.json and the Nix variant
//	root/          where the overlay is mounted (in the holder's namespace)
//	docker/, containerd/, nix/  plain directories bound at /var/lib/docker,
//	               /var/lib/containerd and /nix: overlay2 and the containerd
//	               snapshotter cannot sit on overlayfs
const (
	dirUpper      = "upper"
	dirWork       = "work"
	dirRoot       = "root"
	dirDocker     = "docker"
	dirContainerd = "containerd"
	dirNix        = "nix"
	fileConsole   = "console.log"
)

// writeModernFiles prepares a modern droplet's disk and holder script.
func writeModernFiles(s *state, streamLocal bool) error {
	sd, dd := stateDir(s.Name), dataDir(s.Name)
	for _, d := range []string{dirUpper, dirWork, dirRoot, dirDocker, dirContainerd} {
		if err := os.MkdirAll(filepath.Join(dd, d), 0o755); err != nil {
			return err
		}
	}
	up := func(p string) string { return filepath.Join(dd, dirUpper, p) }
	// Parents in the upper layer must match the lower ones (mode 0700 /root).
	for p, mode := range map[string]os.FileMode{
		"etc": 0o755, "etc/ssh": 0o755, "etc/ssh/sshd_config.d": 0o755, "etc/docker": 0o755,
		"etc/systemd": 0o755, "etc/systemd/system": 0o755, "root": 0o700, "root/.ssh": 0o700,
		"usr": 0o755, "usr/bin": 0o755,
	} {
		if err := os.MkdirAll(up(p), mode); err != nil {
			return err
		}
		if err := os.Chmod(up(p), mode); err != nil {
			return err
		}
	}
	hostKey, err := os.ReadFile(filepath.Join(sd, fileHostKey))
	if err != nil {
		return err
	}
	hostPub, err := os.ReadFile(filepath.Join(sd, fileHostKey+".pub"))
	if err != nil {
		return err
	}
	authorized, err := os.ReadFile(filepath.Join(sd, fileAuthorized))
	if err != nil {
		return err
	}
	var mid [16]byte
	rand.Read(mid[:])
	dj, _ := json.MarshalIndent(map[string]any{
		"features":  map[string]bool{"containerd-snapshotter": s.ContainerdStore},
		"log-level": "warn",
	}, "", "  ")
	yesNo := map[bool]string{true: "yes", false: "no"}
	files := []struct {
		path string
		mode os.FileMode
		data []byte
	}{
		{"etc/ssh/ssh_host_ed25519_key", 0o600, hostKey},
		{"etc/ssh/ssh_host_ed25519_key.pub", 0o644, hostPub},
		{"root/.ssh/authorized_keys", 0o600, authorized},
		// The client key logs in as any user, as on bookworm droplets
		// (tests add non-root users).
		{"etc/ssh/nd-fleet-authorized_keys", 0o644, authorized},
		{"etc/hostname", 0o644, []byte(s.Name + "\n")},
		// The droplet's own name resolves without DNS (sudo looks it up),
		// and there is no name server to ask: the machine's resolver,
		// which debootstrap copied, is not for droplets' traffic.
		{"etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n127.0.1.1\t" + s.Name + "\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")},
		{"etc/resolv.conf", 0o644, []byte("# fleet droplet: no name server\n")},
		{"etc/machine-id", 0o444, []byte(hex.EncodeToString(mid[:]) + "\n")},
		{"etc/docker/daemon.json", 0o644, append(dj, '\n')},
		{"etc/ssh/sshd_config.d/20-nd-fleet-droplet.conf", 0o644, []byte(
			"# fleet droplet " + s.Name + "\nAllowStreamLocalForwarding " + yesNo[streamLocal] + "\nLogLevel VERBOSE\n" +
				"AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/nd-fleet-authorized_keys\n")},
	}
	for _, f := range files {
		if err := os.WriteFile(up(f.path), f.data, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := os.Chmod(up(f.path), f.mode); err != nil {
			return err
		}
	}
	var masked []string
	if !s.Docker {
		masked = append(masked, "docker.service", "docker.socket", "containerd.service")
	}
	if !s.Nix {
		masked = append(masked, "nix-daemon.service", "nix-daemon.socket")
	}
	for _, u := range masked {
		if err := os.Symlink("/dev/null", up("etc/systemd/system/"+u)); err != nil {
			return fmt.Errorf("masking %s: %w", u, err)
		}
	}
	if err := writeNixVariant(s, up); err != nil {
		return fmt.Errorf("laying out Nix: %w", err)
	}
	return os.WriteFile(filepath.Join(sd, fileHolder), []byte(modernHolderScript(s)), 0o644)
}

// writeNixVariant gives the droplet its Nix: none (the tools and /nix hidden
// by whiteouts), Debian's (/usr/bin) or the installer's layout.
func writeNixVariant(s *state, up func(string) string) error {
	if !s.Nix {
		if err := writeWhiteouts(up("usr/bin"), filepath.Join(RootfsDir, "usr/bin")); err != nil {
			return err
		}
		return whiteout(up("nix"))
	}
	nix := filepath.Join(dataDir(s.Name), dirNix)
	for _, d := range []string{"store", "var/nix/db", "var/nix/daemon-socket", "var/nix/gcroots/per-user",
		"var/nix/profiles/per-user", "var/nix/temproots", "var/log/nix"} {
		if err := os.MkdirAll(filepath.Join(nix, d), 0o755); err != nil {
			return err
		}
	}
	// As nix-setup-systemd leaves it: the store group-writable by nixbld.
	gid, err := rootfsGroup("nixbld")
	if err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(nix, "store"), 0, gid); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(nix, "store"), 0o1775|os.ModeSticky); err != nil {
		return err
	}
	if s.NixLayout != NixInstaller {
		return nil
	}
	// Installer layout: the tools only in the default profile, nothing
	// nix* in /usr/bin, the daemon started from the profile.
	bin := filepath.Join(nix, strings.TrimPrefix(installerBin, "/nix/"))
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	matches, _ := filepath.Glob(filepath.Join(RootfsDir, "usr/bin/nix*"))
	for _, m := range matches {
		dst := filepath.Join(bin, filepath.Base(m))
		if target, err := os.Readlink(m); err == nil {
			if err := os.Symlink(target, dst); err != nil {
				return err
			}
		} else if err := copyFile(m, dst, 0o755); err != nil {
			return err
		}
	}
	if err := writeWhiteouts(up("usr/bin"), filepath.Join(RootfsDir, "usr/bin")); err != nil {
		return err
	}
	// Login shells find it, as the installer's /etc/profile.d/nix.sh
	// arranges; the commands ssh runs (no login shell) do not.
	if err := os.MkdirAll(up("etc/profile.d"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(up("etc/profile.d/nix.sh"), []byte(
		"# Nix (fleet droplet, installer layout)\nexport PATH=\"$HOME/.nix-profile/bin:"+installerBin+":$PATH\"\n"), 0o644); err != nil {
		return err
	}
	dropIn := up("etc/systemd/system/nix-daemon.service.d")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dropIn, "installer.conf"), []byte(
		"[Service]\nExecStart=\nExecStart=@"+installerBin+"/nix-daemon nix-daemon --daemon\n"), 0o644)
}

// rootfsGroup looks a group's ID up in the root filesystem's /etc/group.
func rootfsGroup(name string) (int, error) {
	f, err := os.Open(filepath.Join(RootfsDir, "etc/group"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 3 && fs[0] == name {
			return strconv.Atoi(fs[2])
		}
	}
	return 0, fmt.Errorf("no group %s in %s/etc/group", name, RootfsDir)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// modernHolderScript is run by a modern droplet's holder in the droplet's
// network namespace and a private mount namespace. It mounts the droplet's
// disk, takes cgroups of its own, reports on fd 3, and then boots the
// droplet with systemd-nspawn, again after each reboot (nspawn exits 133
// when the droplet's systemd reboots), until the droplet powers off or the
// holder gets SIGTERM (which nspawn turns into a clean poweroff).
func modernHolderScript(s *state) string {
	sd, dd := stateDir(s.Name), dataDir(s.Name)
	var cg strings.Builder
	for _, dir := range cgroupDirs(s.Name) {
		fmt.Fprintf(&cg, "mkdir -p %[1]s\necho $$ >%[1]s/cgroup.procs\n", dir)
	}
	// The state directory at the same path, as in bookworm droplets.
	binds := fmt.Sprintf("--bind=%[1]s/%[2]s:/var/lib/docker --bind=%[1]s/%[3]s:/var/lib/containerd --bind=%[4]s",
		dd, dirDocker, dirContainerd, sd)
	if s.Nix {
		binds += fmt.Sprintf(" --bind=%s/%s:/nix", dd, dirNix)
	}
	return fmt.Sprintf(`#!/bin/sh
# Holder of modern fleet droplet %[1]s.
set -eu
mount --make-rprivate /
%[14]smount -t overlay nd-fleet-root -o lowerdir=%[3]s,upperdir=%[2]s/%[4]s,workdir=%[2]s/%[5]s %[2]s/%[6]s
# systemd 262 needs the unified cgroup hierarchy: a cgroup of our own there.
%[7]s
echo ready >&3
exec 3>&-
set +e
stop=0
child=
trap 'stop=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null' TERM INT HUP
while [ "$stop" = 0 ]; do
	echo "$(date -u +%%FT%%TZ) booting"
	# API_VFS_WRITABLE=network: Docker 28 writes /proc/sys/net for containers.
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_NSPAWN_USE_CGNS=1 SYSTEMD_NSPAWN_API_VFS_WRITABLE=network \
	%[8]s --boot --register=no --keep-unit --directory=%[2]s/%[6]s --machine=%[1]s \
		--network-namespace-path=/run/netns/%[9]s --capability=all \
		--system-call-filter='@mount @privileged @resources @obsolete bpf keyctl add_key request_key' \
		--resolv-conf=off --timezone=off --link-journal=no --console=pipe \
		%[10]s </dev/null >>%[11]s/%[12]s/%[13]s 2>&1 &
	child=$!
	wait "$child"
	rc=$?
	while kill -0 "$child" 2>/dev/null; do
		wait "$child"
		rc=$?
	done
	child=
	echo "$(date -u +%%FT%%TZ) systemd-nspawn exited with status $rc"
	# 133: the droplet rebooted; anything else: it powered off or failed.
	[ "$rc" = 133 ] || break
done
`, s.Name, dd, RootfsDir, dirUpper, dirWork, dirRoot, cg.String(), nspawnPath, netnsName(s.Name),
		binds, sd, dirLogs, fileConsole, holderDropOthers(s.Name))
}

package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// File names inside a droplet's state directory.
const (
	fileHostKey      = "ssh_host_ed25519_key"
	fileClientKey    = "client_ed25519"
	fileAuthorized   = "authorized_keys"
	fileKnownHosts   = "known_hosts"
	fileSSHConfig    = "ssh_config"
	fileSSHDConfig   = "sshd_config"
	fileDaemonJSON   = "daemon.json"
	fileHolder       = "holder.sh"
	dirLogs          = "logs"
	dirNoNixWhiteout = "nonix-usr-bin"
)

// writeKey writes a fresh ed25519 key pair to path and path.pub.
func writeKey(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment + "\n"
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return nil, err
	}
	return sp, nil
}

// writeFiles creates the droplet's directories, keys and configuration files.
func writeFiles(s *state, streamLocal bool) (hostKey ssh.PublicKey, err error) {
	if err := os.MkdirAll(filepath.Join(stateDir(s.Name), dirLogs), 0o755); err != nil {
		return nil, err
	}
	hostKey, err = writeSSHFiles(s)
	if err != nil {
		return nil, err
	}
	if err := makeDisk(s.Name); err != nil {
		return nil, err
	}
	if s.Kind == Modern {
		return hostKey, writeModernFiles(s, streamLocal)
	}
	return hostKey, writeBookwormFiles(s, streamLocal)
}

// writeSSHFiles writes what both kinds share: the host and client keys,
// authorized_keys, known_hosts and the ssh_config for the droplet.
func writeSSHFiles(s *state) (ssh.PublicKey, error) {
	sd := stateDir(s.Name)
	_, inner := addrs(s.Index)
	hostKey, err := writeKey(filepath.Join(sd, fileHostKey), "nd-fleet-host-"+s.Name)
	if err != nil {
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	clientKey, err := writeKey(filepath.Join(sd, fileClientKey), "nd-fleet-client-"+s.Name)
	if err != nil {
		return nil, fmt.Errorf("writing client key: %w", err)
	}
	files := map[string]string{
		fileAuthorized: string(ssh.MarshalAuthorizedKey(clientKey)),
		fileKnownHosts: fmt.Sprintf("%s,%s %s", inner, s.Name, ssh.MarshalAuthorizedKey(hostKey)),
		fileSSHConfig: fmt.Sprintf(`# ssh_config for fleet droplet %[1]s: ssh -F %[3]s/%[4]s %[1]s
Host %[1]s %[2]s
	HostName %[2]s
	Port 22
	User root
	IdentityFile %[3]s/%[5]s
	IdentitiesOnly yes
	UserKnownHostsFile %[3]s/%[6]s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
	LogLevel ERROR
`, s.Name, inner, sd, fileSSHConfig, fileClientKey, fileKnownHosts),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sd, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return hostKey, nil
}

// writeBookwormFiles writes the data directories, sshd and dockerd
// configuration and the holder script of a bookworm droplet.
func writeBookwormFiles(s *state, streamLocal bool) error {
	sd, dd := stateDir(s.Name), dataDir(s.Name)
	_, inner := addrs(s.Index)
	dirs := []string{
		filepath.Join(dd, "varlib", "docker"),
		filepath.Join(dd, "varlib", "nd-agent"),
		filepath.Join(dd, "tmp"),
	}
	if s.Nix {
		for _, d := range []string{"store", "var/nix/db", "var/nix/gcroots", "var/nix/profiles", "var/nix/temproots", "var/log/nix"} {
			dirs = append(dirs, filepath.Join(dd, "nix", d))
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dd, "tmp"), 0o1777|os.ModeSticky); err != nil {
		return err
	}
	if s.Nix {
		if err := os.Chmod(filepath.Join(dd, "nix", "store"), 0o1775|os.ModeSticky); err != nil {
			return err
		}
	}
	yesNo := map[bool]string{true: "yes", false: "no"}
	files := map[string]string{
		fileSSHDConfig: fmt.Sprintf(`# sshd of fleet droplet %[1]s (runs inside the droplet's namespaces)
ListenAddress %[2]s:22
HostKey %[3]s/%[4]s
PidFile /run/sshd.pid
AuthorizedKeysFile %[3]s/%[5]s
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowTcpForwarding yes
AllowStreamLocalForwarding %[6]s
Subsystem sftp internal-sftp
PrintMotd no
UseDNS no
LogLevel VERBOSE
`, s.Name, inner, sd, fileHostKey, fileAuthorized, yesNo[streamLocal]),
	}
	dj, _ := json.MarshalIndent(map[string]any{
		"data-root": "/var/lib/docker",
		"exec-root": "/run/docker",
		"pidfile":   "/run/docker.pid",
		"hosts":     []string{"unix://" + DockerSocket},
		"log-level": "warn",
	}, "", "  ")
	files[fileDaemonJSON] = string(dj) + "\n"
	files[fileHolder] = holderScript(s)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sd, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	if !s.Nix {
		if err := writeWhiteouts(filepath.Join(sd, dirNoNixWhiteout), "/usr/bin"); err != nil {
			return fmt.Errorf("hiding nix tools: %w", err)
		}
	}
	return nil
}

// writeWhiteouts fills dir with overlayfs whiteouts (0/0 character devices)
// for every nix* program in bin, so an overlay of dir over bin (or dir as
// the upper layer of bin) shows bin without Nix.
func writeWhiteouts(dir, bin string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	matches, _ := filepath.Glob(filepath.Join(bin, "nix*"))
	for _, m := range matches {
		if err := whiteout(filepath.Join(dir, filepath.Base(m))); err != nil {
			return err
		}
	}
	return nil
}

// whiteout makes p an overlayfs whiteout: in an upper layer it hides the
// lower layers' entry of that name.
func whiteout(p string) error {
	if err := syscall.Mknod(p, syscall.S_IFCHR|0o000, 0); err != nil && !os.IsExist(err) {
		return fmt.Errorf("mknod %s: %w", p, err)
	}
	return nil
}

// holderScript is run by the holder process inside the droplet's fresh
// (private) mount namespace. It builds the droplet's view of the file system,
// reports on fd 3, and then sleeps for as long as the droplet lives.
func holderScript(s *state) string {
	sd, dd := stateDir(s.Name), dataDir(s.Name)
	var nix string
	if s.Nix {
		nix = fmt.Sprintf("mkdir -p /nix\nmount --bind %s/nix /nix\n", dd)
	} else {
		nix = fmt.Sprintf(`mkdir -p /nix
mount -t tmpfs -o ro,mode=0755,size=64k nd-fleet-nonix /nix
mount -t overlay nd-fleet-nonix -o lowerdir=%s/%s:/usr/bin /usr/bin
`, sd, dirNoNixWhiteout)
	}
	return fmt.Sprintf(`#!/bin/sh
# Holder of fleet droplet %[1]s: runs in the droplet's network namespace and a
# private mount namespace; sets up its file system and keeps the namespace alive.
set -eu
mount --make-rprivate /
# Drop copies of the caller's mounts below the places the droplet replaces, so
# this namespace pins neither the caller's nor other droplets' mounts (but
# keep the droplet's own disk, %[3]s).
dropunder() {
	cut -d' ' -f5 /proc/self/mountinfo | grep -E "^$1/" | grep -v -x -F %[3]s | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
}
# %[3]s is below /var/lib: bind /var/lib last.
dropunder /tmp
mount --bind %[3]s/tmp /tmp
%[4]s
# Writes to these land in the droplet's own upper layer, never on the machine.
for d in /etc /root /usr/local /opt /srv; do
	[ -d "$d" ] || continue
	o=%[3]s/overlay/$(echo "$d" | tr / _)
	mkdir -p "$o/upper" "$o/work"
	mount -t overlay nd-fleet-overlay -o "lowerdir=$d,upperdir=$o/upper,workdir=$o/work" "$d"
done
# No name server: the machine's resolver is outside it, and droplet traffic
# must stay on this machine (names the tests use are in /etc/hosts).
rm -f /etc/resolv.conf
echo '# fleet droplet: no name server' >/etc/resolv.conf
dropunder /var/lib
mount --bind %[3]s/varlib /var/lib
# A tmpfs /run, with the droplet's own state directory bound back at the same
# path (the cwd still reaches the shadowed directory; -c keeps mount from
# resolving "." by name).
cd %[2]s
dropunder /run
mount -t tmpfs -o mode=0755,size=64m nd-fleet-run /run
mkdir -p %[2]s /run/sshd /run/lock
mount -c --bind . %[2]s
cd /
echo ready >&3
exec 3>&-
# Not exec: this shell's command line names the state directory, which lets
# Leftovers find a holder whose droplet state is gone.
while :; do sleep 86400; done
`, s.Name, sd, dd, nix)
}

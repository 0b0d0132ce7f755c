package fleet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshRun runs a command on d over real ssh with d's ssh_config (strict host
// key checking against the key written before boot).
func sshRun(t *testing.T, ctx context.Context, d *Droplet, command string) (string, error) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ssh", "-F", d.SSHConfig(), d.Name, command).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestModernBoots boots a modern droplet: systemd is PID 1 and reaches
// "running" (no failed unit), sshd, dockerd and nix-daemon run as units,
// and ssh with strict host key checking logs in as root.
func TestModernBoots(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	start := time.Now()
	d := ForTest(t, 1, Options{Kind: Modern, Nix: true})[0]
	t.Logf("modern droplet (systemd, sshd, dockerd, nix-daemon) up in %v", time.Since(start).Round(time.Millisecond))
	if d.Kind != Modern || !d.HasNix || d.NixLayout != NixDebian || d.ContainerdStore {
		t.Errorf("droplet = kind %q, nix %v (%q), containerd store %v; want modern, Debian Nix, classic store", d.Kind, d.HasNix, d.NixLayout, d.ContainerdStore)
	}
	if got := mustExec(t, ctx, d, "cat", "/proc/1/comm"); got != "systemd" {
		t.Errorf("PID 1 = %q, want systemd", got)
	}
	out, err := d.Systemctl(ctx, "is-system-running", "--wait")
	if got := strings.TrimSpace(string(out)); got != "running" {
		failed, _ := d.Systemctl(ctx, "--failed", "--no-pager")
		t.Errorf("is-system-running = %q (%v), want running; failed units:\n%s", got, err, failed)
	}
	for _, u := range []string{"ssh.service", "containerd.service", "docker.service", "nix-daemon.socket"} {
		if out, err := d.Systemctl(ctx, "is-active", u); err != nil {
			t.Errorf("unit %s: %s %v", u, out, err)
		}
	}
	checkCommon(t, ctx, d)
	// A live droplet (nspawn's command line names its state and data
	// directories) is nobody's leftover.
	for _, l := range Leftovers() {
		if strings.Contains(l, d.Name) {
			t.Errorf("Leftovers lists the live droplet: %s", l)
		}
	}
	if got := mustExec(t, ctx, d, "hostname"); got != d.Name {
		t.Errorf("hostname = %q, want %q", got, d.Name)
	}
	// Its name resolves locally, and no name server outside is asked.
	if got := mustExec(t, ctx, d, "getent", "hosts", d.Name); !strings.HasPrefix(got, "127.0.1.1") {
		t.Errorf("getent hosts %s = %q, want 127.0.1.1", d.Name, got)
	}
	if got := mustExec(t, ctx, d, "sh", "-c", "grep -c ^nameserver /etc/resolv.conf || true"); got != "0" {
		t.Errorf("/etc/resolv.conf names %s name servers, want none", got)
	}

	got, err := sshRun(t, ctx, d, "id -un; cat /proc/1/comm; docker version --format '{{.Server.Version}}'; nix-store --version")
	if err != nil {
		t.Fatalf("ssh -F %s %s: %v: %s", d.SSHConfig(), d.Name, err, got)
	}
	lines := strings.Split(got, "\n")
	if len(lines) != 4 || lines[0] != "root" || lines[1] != "systemd" || !strings.HasPrefix(lines[2], "28.") || !strings.Contains(lines[3], "2.34") {
		t.Errorf("over ssh: %q, want root, systemd, Docker 28.x, Nix 2.34", lines)
	}
	// Strict: with another key in known_hosts, ssh refuses the droplet.
	other, err := writeKey(filepath.Join(t.TempDir(), "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(d.Addr+","+d.Name+" "+string(ssh.MarshalAuthorizedKey(other))), 0o644)
	out, err = exec.CommandContext(ctx, "ssh", "-F", d.SSHConfig(), "-o", "UserKnownHostsFile="+kh, d.Name, "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "verification failed") {
		t.Errorf("ssh with a wrong known_hosts: %v %s; want host key verification to fail", err, out)
	}
}

// TestModernImageStores boots one droplet with the containerd image store
// and one without, in parallel, and asks each dockerd which it uses.
func TestModernImageStores(t *testing.T) {
	t.Parallel()
	for _, store := range []bool{false, true} {
		t.Run(fmt.Sprintf("containerd=%v", store), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			d := ForTest(t, 1, Options{Kind: Modern, ContainerdStore: store})[0]
			got := mustExec(t, ctx, d, "docker", "info", "--format", "{{.Driver}} {{json .DriverStatus}}")
			if uses := strings.Contains(got, "io.containerd.snapshotter"); uses != store || d.ContainerdStore != store {
				t.Errorf("droplet with ContainerdStore %v: docker info driver = %s; want containerd snapshotter %v", d.ContainerdStore, got, store)
			}
		})
	}
}

// TestModernNixLayouts checks the three Nix variants of modern droplets:
// Debian's in /usr/bin; the installer's only from its profile (not on the
// default PATH of an ssh command, only a login shell's; nix-daemon serving
// its socket); none.
func TestModernNixLayouts(t *testing.T) {
	t.Parallel()
	t.Run("installer", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		d := ForTest(t, 1, Options{Kind: Modern, Nix: true, NixLayout: NixInstaller})[0]
		if d.NixLayout != NixInstaller || !d.HasNix {
			t.Errorf("droplet Nix = %v %q, want installer layout", d.HasNix, d.NixLayout)
		}
		if out, err := sshRun(t, ctx, d, "command -v nix-store nix || echo none; ls /usr/bin | grep -c ^nix || true"); out != "none\n0" {
			t.Errorf("over ssh, default PATH: %q (%v); want no nix tools found and none in /usr/bin", out, err)
		}
		if out, err := sshRun(t, ctx, d, "bash -lc 'command -v nix-store'"); out != installerBin+"/nix-store" {
			t.Errorf("a login shell finds nix-store at %q (%v), want %s/nix-store", out, err, installerBin)
		}
		out, err := sshRun(t, ctx, d, installerBin+"/nix-store --version")
		if err != nil || !strings.Contains(out, "2.34") {
			t.Errorf("%s/nix-store --version = %q (%v), want Nix 2.34", installerBin, out, err)
		}
		// The daemon runs from the profile and answers on its socket.
		if got := mustExec(t, ctx, d, "sh", "-c", "systemctl start nix-daemon.service && readlink /proc/$(systemctl show -P MainPID nix-daemon.service)/exe"); !strings.HasPrefix(got, "/nix/var/nix/profiles/default/bin/") {
			t.Errorf("nix-daemon runs %q, want the profile's binary", got)
		}
		p, err := sshRun(t, ctx, d, "echo hi >/tmp/f && NIX_REMOTE=daemon "+installerBin+"/nix-store --add /tmp/f")
		if err != nil || !strings.HasPrefix(p, "/nix/store/") {
			t.Errorf("nix-store --add through the daemon = %q (%v)", p, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		d := ForTest(t, 1, Options{Kind: Modern, NoStreamLocalForwarding: true})[0]
		if d.HasNix || d.NixLayout != "" {
			t.Errorf("droplet Nix = %v %q, want none", d.HasNix, d.NixLayout)
		}
		if out, err := sshRun(t, ctx, d, "command -v nix-store nix; ls -d /nix "+installerBin+"; ls /usr/bin | grep ^nix"); err == nil || out != "" && !strings.Contains(out, "No such file") {
			t.Errorf("Nix traces in a droplet without Nix: %q", out)
		}
		if got, _ := d.Systemctl(ctx, "is-enabled", "nix-daemon.socket"); strings.TrimSpace(string(got)) != "masked" {
			t.Errorf("nix-daemon.socket is %q, want masked", got)
		}
		// Options other than the Nix variant work too.
		if got := strings.ToLower(mustExec(t, ctx, d, "sh", "-c", "sshd -T | grep -i '^allowstreamlocalforwarding '")); got != "allowstreamlocalforwarding no" {
			t.Errorf("sshd with NoStreamLocalForwarding: %q", got)
		}
		if _, err := d.Exec(ctx, "test", "-f", d.SSHConfig()); err != nil {
			t.Errorf("state directory not visible inside: %v", err)
		}
	})
}

// TestModernReboot reboots a droplet: systemd powers off and boots again on
// the same disk, keeping files, Docker's images and a container with a
// restart policy (a busybox sleep ignores SIGTERM: --stop-timeout keeps the
// poweroff short), and the same host key.
func TestModernReboot(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := ForTest(t, 1, Options{Kind: Modern, Nix: true})[0]
	mustExec(t, ctx, d, "sh", "-c", "echo kept >/root/marker && echo gone >/run/marker && echo hi >/tmp/x && nix-store --add /tmp/x >/root/storepath")
	imp := d.Command(ctx, "docker", "import", "-", "nd-fleet-bb")
	imp.Stdin = busyboxTar(t)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	mustExec(t, ctx, d, "docker", "run", "-d", "--name", "sleeper", "--restart", "always", "--stop-timeout", "1", "--network", "none", "nd-fleet-bb", "/bin/busybox", "sleep", "1000")
	if err := d.Start(ctx, "bg", "sleep", "1000"); err != nil {
		t.Fatal(err)
	}
	oldPID := d.HolderPID()

	start := time.Now()
	if err := d.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("reboot (poweroff, boot, sshd and dockerd answering) took %v", time.Since(start).Round(time.Millisecond))
	if d.Boots() != 2 || d.HolderPID() == oldPID {
		t.Errorf("after Reboot: boots %d, PID 1 %d (was %d); want 2 boots and a new PID 1", d.Boots(), d.HolderPID(), oldPID)
	}
	if d.Running("bg") {
		t.Errorf("a process started before the reboot survived it")
	}
	if got := mustExec(t, ctx, d, "cat", "/root/marker"); got != "kept" {
		t.Errorf("/root/marker after reboot = %q, want kept", got)
	}
	if _, err := d.Exec(ctx, "test", "-e", "/run/marker"); err == nil {
		t.Errorf("/run kept a file across the reboot")
	}
	if _, err := d.Exec(ctx, "sh", "-c", "nix-store --check-validity $(cat /root/storepath)"); err != nil {
		t.Errorf("store path lost in the reboot: %v", err)
	}
	if got := mustExec(t, ctx, d, "docker", "inspect", "-f", "{{.State.Running}}", "sleeper"); got != "true" {
		t.Errorf("container with --restart always after reboot: running = %s", got)
	}
	if out, err := sshRun(t, ctx, d, "cat /root/marker"); err != nil || out != "kept" {
		t.Errorf("ssh after reboot (same known_hosts): %q %v", out, err)
	}

	// Stop and Running of the droplet's own daemons map to their units.
	if !d.Running("dockerd") || !d.Running("sshd") {
		t.Errorf("Running: dockerd %v, sshd %v; want both", d.Running("dockerd"), d.Running("sshd"))
	}
	for _, name := range []string{"dockerd", "sshd"} {
		if err := d.Stop(ctx, name); err != nil || d.Running(name) {
			t.Errorf("Stop(%s) = %v, still running: %v", name, err, d.Running(name))
		}
	}
	if err := sshBanner(ctx, d.Addr); err == nil {
		t.Errorf("sshd answers after Stop(sshd)")
	}
}

// TestModernStartThree boots three modern droplets in parallel (the boot
// time it logs is the figure the README quotes).
func TestModernStartThree(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	start := time.Now()
	ds := ForTest(t, 3, Options{Kind: Modern, Nix: true})
	t.Logf("three modern droplets up in parallel in %v", time.Since(start).Round(time.Millisecond))
	ids := map[string]bool{}
	for _, d := range ds {
		id := mustExec(t, ctx, d, "cat", "/etc/machine-id")
		if ids[id] {
			t.Errorf("machine-id %s given twice", id)
		}
		ids[id] = true
		if out, err := sshRun(t, ctx, d, "hostname"); err != nil || out != d.Name {
			t.Errorf("ssh %s hostname = %q, %v", d.Name, out, err)
		}
	}
}

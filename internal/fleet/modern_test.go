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
	if got := mustExec(t, ctx, d, "hostname"); got != d.Name {
		t.Errorf("hostname = %q, want %q", got, d.Name)
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

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// versionedApp writes a config whose web page answers "<version> <first>",
// where first is what the first deployed version wrote into its volume.
// extra is spliced into the module (e.g. a failing process).
func versionedApp(t *testing.T, dir, version, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{ pkgs, ... }:
let
  www = pkgs.runCommand "upd-www" { } ''
    mkdir -p $out/cgi-bin
    cat > $out/cgi-bin/info <<EOF
    #!${pkgs.runtimeShell}
    echo "Content-Type: text/plain"
    echo
    echo "%[1]s \$(cat /data/first)"
    EOF
    chmod +x $out/cgi-bin/info
  '';
in
{
  docker.name = "upd";
  supervisord.services.init = {
    command = "${pkgs.runtimeShell} -c '[ -e /data/first ] || echo %[1]s > /data/first'";
    oneshot = true;
  };
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p 8090 -h ${www}";
  docker.ports = [ 8090 ];
  docker.volumes = [ "/data" ];
  %[2]s
}
`, version, extra)
	p := filepath.Join(dir, "config.nix")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushUpdateKeepsVolumeAndSurvivesBadDeploy(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	dir := t.TempDir()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"

	if code, _, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v1", "")); code != 0 {
		t.Fatalf("deploying v1 exited %d", code)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
		t.Fatalf("v1 answered %q, want %q", got, "v1 v1")
	}
	code, out, errOut := e.push(t, e.d.Name, versionedApp(t, dir, "v2", ""))
	if code != 0 {
		t.Fatalf("deploying v2 exited %d", code)
	}
	if !strings.Contains(out, "generation 2") {
		t.Errorf("update said %q, want generation 2", out)
	}
	// The update sends little: the changed paths only, not busybox or nd-init.
	if strings.Contains(errOut, "all ") {
		t.Errorf("update sent nothing? %q", errOut)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("after the update the app answered %q, want %q (new version, volume kept)", got, "v2 v1")
	}
	before := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-upd")

	// v3 never starts: a oneshot (a migration, say) fails. The push fails,
	// names the cause, and v2 keeps serving.
	bad := `supervisord.services.migrate = { command = "${pkgs.busybox}/bin/busybox false"; oneshot = true; };`
	code, _, errOut = e.push(t, e.d.Name, versionedApp(t, dir, "v3", bad))
	if code == 0 {
		t.Fatalf("deploying a crashing v3 succeeded")
	}
	if !strings.Contains(errOut, "upd") {
		t.Errorf("the failure does not name the app: %q", errOut)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("after the failed deploy the app answered %q, want v2 still running", got)
	}
	if after := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-upd"); after != before {
		t.Errorf("the failed deploy left container %s, want the previous %s", after, before)
	}
	if gen := e.docker(t, "inspect", "-f", `{{index .Config.Labels "nd.generation"}}`, "nd-upd"); gen != "2" {
		t.Errorf("running generation %q, want 2", gen)
	}

	// v4's worker crash-loops: the container runs for a while, but its
	// processes never all start, so the deploy fails (nd-init's readiness,
	// not a fixed settle time, decides) and v2 keeps serving.
	loop := `supervisord.services.worker.command = "${pkgs.busybox}/bin/busybox sh -c 'echo boom; exit 1'";`
	code, _, errOut = e.push(t, e.d.Name, versionedApp(t, dir, "v4", loop))
	if code == 0 {
		t.Fatalf("deploying a crash-looping v4 succeeded")
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("after the crash-looping deploy the app answered %q, want v2 still running", got)
	}
	if after := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-upd"); after != before {
		t.Errorf("the crash-looping deploy left container %s, want the previous %s", after, before)
	}
}

func TestPushUnknownHostKeyRefused(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true, NoDocker: true})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := e.push(t, "-o", "UserKnownHostsFile="+empty, e.d.Name, e.example("hello"))
	if code != 1 {
		t.Fatalf("push to a host with an unknown key exited %d, want 1", code)
	}
	fp := fingerprint(e.d)
	for _, want := range []string{e.d.Name, fp, "StrictHostKeyChecking"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error %q does not mention %q", errOut, want)
		}
	}
}

func TestPushDialStdioWhenForwardingDisabled(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true, NoStreamLocalForwarding: true})
	if code, _, _ := e.push(t, e.d.Name, e.example("hello")); code != 0 {
		t.Fatalf("deploy through dial-stdio exited %d", code)
	}
	if body := get(t, "http://"+e.d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
		t.Fatalf("app answered %q", body)
	}
}

// TestPushDroppedConnection kills nd-push in the middle of a transfer over a
// slow link: the target's store stays consistent (no half-imported path),
// the running app is untouched, and the next push completes.
func TestPushDroppedConnection(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true, Rate: "40mbit"})
	dir := t.TempDir()
	if code, _, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v1", "")); code != 0 {
		t.Fatalf("deploying v1 exited %d", code)
	}
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	get(t, url)

	// v2 carries 24 MB of incompressible data: ~5 s on this link.
	big := `docker.env.BLOB = "${pkgs.runCommand "blob" { } "mkdir $out; for i in 1 2 3; do head -c 8000000 /dev/urandom > $out/part$i; done"}";`
	cfg := versionedApp(t, dir, "v2", big)
	bin := testutilBuild(t)
	cmd := exec.Command(bin, "-F", e.d.SSHConfig(), e.d.Name, cfg)
	cmd.Env = append(os.Environ(), "ND_INIT="+e.bins["nd-init"])
	out, _ := os.Create(filepath.Join(dir, "push.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it a moment into the transfer (the mode line comes right before).
	deadline := time.Now().Add(90 * time.Second)
	for {
		log, _ := os.ReadFile(filepath.Join(dir, "push.log"))
		if strings.Contains(string(log), "host-store mode") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the transfer never started; nd-push said:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	logText, _ := os.ReadFile(filepath.Join(dir, "push.log"))
	if strings.Contains(string(logText), "generation 2") {
		t.Fatalf("push finished before it was killed; make the blob bigger:\n%s", logText)
	}

	// The store holds only valid paths, and they verify.
	checkStoreConsistent(t, e)
	if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
		t.Fatalf("after the dropped push the app answered %q, want v1 untouched", got)
	}
	if code, _, _ := e.push(t, e.d.Name, cfg); code != 0 {
		t.Fatalf("the push after the dropped one exited %d", code)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("after the retried push the app answered %q, want v2 v1", got)
	}
	checkStoreConsistent(t, e)
}

func testutilBuild(t *testing.T) string {
	return testutil.BuildBinaries(t, "nd-push")["nd-push"]
}

func fingerprint(d *fleet.Droplet) string { return ssh.FingerprintSHA256(d.HostKey()) }

func checkStoreConsistent(t *testing.T, e *deployEnv) {
	t.Helper()
	ctx := context.Background()
	if out, err := e.d.Exec(ctx, "nix-store", "--verify", "--check-contents"); err != nil {
		t.Fatalf("nix-store --verify on the target: %v\n%s", err, out)
	}
	out, err := e.d.Exec(ctx, "sh", "-c", `for p in /nix/store/*; do case "$p" in */.links) continue;; esac; nix-store --check-validity "$p" 2>/dev/null || echo "INVALID $p"; done`)
	if err != nil {
		t.Fatalf("listing the target's store: %v", err)
	}
	if strings.Contains(string(out), "INVALID") {
		t.Fatalf("the target's store has paths that are not valid (half-imported):\n%s", out)
	}
}

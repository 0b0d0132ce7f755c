package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// deployEnv is a fleet droplet running the freshly built nd-agent, and the
// environment nd-push needs to reach it.
type deployEnv struct {
	d    *fleet.Droplet
	bins map[string]string
	root string
}

func newDeployEnv(t testing.TB, opts fleet.Options) *deployEnv {
	t.Helper()
	bins, root := deployBins(t)
	return startDeployEnv(t, opts, bins, root)
}

// deployBins builds nd-agent and nd-init and points ND_INIT at the latter;
// tests running droplets in parallel subtests call it once in the parent
// (Go forbids Setenv in parallel tests).
func deployBins(t testing.TB) (map[string]string, string) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "nix-build", "nix-store", "dockerd", "sshd")
	bins := testutil.BuildBinaries(t, "nd-agent", "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return bins, root
}

// startDeployEnv starts a droplet with the built nd-agent running in it.
func startDeployEnv(t testing.TB, opts fleet.Options, built map[string]string, root string) *deployEnv {
	t.Helper()
	bins := map[string]string{}
	for k, v := range built {
		bins[k] = v
	}
	d := fleet.ForTest(t, 1, opts)[0]
	ctx := context.Background()
	// The droplet has its own /tmp and /var/lib: install the agent inside,
	// as install-agent would.
	agentBin := "/var/lib/nd-test/nd-agent"
	copyFile(t, bins["nd-agent"], d.Path(agentBin), 0o755)
	bins["nd-agent@droplet"] = agentBin
	if err := d.Start(ctx, "nd-agent", agentBin, "serve"); err != nil {
		t.Fatalf("starting nd-agent in %s: %v", d.Name, err)
	}
	e := &deployEnv{d: d, bins: bins, root: root}
	e.waitAgent(t)
	return e
}

func (e *deployEnv) waitAgent(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := e.d.Exec(context.Background(), "test", "-S", "/run/nd-agent/agent.sock"); err == nil {
			return
		}
		e.retryIfBusy(t)
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
			t.Fatalf("nd-agent did not create its socket in %s; its log:\n%s", e.d.Name, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// retryIfBusy starts nd-agent again if it could not be executed because
// the copy of it was "busy": with parallel tests, a child forked elsewhere
// in this process may still hold the copy's write descriptor until it execs
// (golang/go#22315).
func (e *deployEnv) retryIfBusy(t testing.TB) {
	t.Helper()
	if e.d.Running("nd-agent") {
		return
	}
	log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
	if !strings.HasSuffix(strings.TrimSpace(string(log)), "Text file busy") {
		return
	}
	time.Sleep(100 * time.Millisecond)
	if err := e.d.Start(context.Background(), "nd-agent", e.bins["nd-agent@droplet"], "serve"); err != nil {
		t.Fatalf("starting nd-agent in %s again: %v", e.d.Name, err)
	}
}

// push runs nd-push as a user would (through Run), returning its exit code,
// stdout and stderr.
func (e *deployEnv) push(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"-F", e.d.SSHConfig(), "--agent-path", e.bins["nd-agent@droplet"]}, args...)
	code := Run(context.Background(), all, &out, &errb)
	t.Logf("nd-push %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(all, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

func (e *deployEnv) example(name string) string {
	return filepath.Join(e.root, "examples", name, "config.nix")
}

func (e *deployEnv) docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.d.Exec(context.Background(), append([]string{"docker", "-H", "unix:///run/docker.sock"}, args...)...)
	if err != nil {
		t.Fatalf("docker %v in %s: %v", args, e.d.Name, err)
	}
	return strings.TrimSpace(string(out))
}

// get fetches url, retrying while the app starts.
func get(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(body)
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPushHostStore(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	cfg := e.example("hello")

	code, out, _ := e.push(t, e.d.Name, cfg)
	if code != 0 {
		t.Fatalf("first deploy exited %d", code)
	}
	if !strings.Contains(out, "generation 1") {
		t.Errorf("first deploy output %q, want generation 1", out)
	}
	if body := get(t, "http://"+e.d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
		t.Fatalf("app answered %q, want hello from nd", body)
	}
	id1 := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-hello")
	binds := e.docker(t, "inspect", "-f", "{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}", "nd-hello")
	if !strings.Contains(binds, "/nix/store:/nix/store:false") {
		t.Errorf("container mounts %q, want /nix/store read-only", binds)
	}

	// A no-op redeploy changes nothing: same container, nothing sent.
	code, out, errOut := e.push(t, e.d.Name, cfg)
	if code != 0 {
		t.Fatalf("redeploy exited %d", code)
	}
	if !strings.Contains(out, "already running") || !strings.Contains(errOut, "already there") {
		t.Errorf("redeploy said %q / %q, want already running and nothing sent", out, errOut)
	}
	if id2 := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-hello"); id2 != id1 {
		t.Errorf("no-op redeploy replaced the container: %s -> %s", id1, id2)
	}

	// The app comes back by itself when the droplet's dockerd restarts, as
	// after a reboot (restart policy), in the same container.
	if err := e.d.RestartDocker(context.Background()); err != nil {
		t.Fatal(err)
	}
	if body := get(t, "http://"+e.d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
		t.Fatalf("after a dockerd restart the app answered %q", body)
	}
	if id := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-hello"); id != id1 {
		t.Errorf("after a dockerd restart the container is %s, want %s", id, id1)
	}

	// Garbage collection on the target keeps the deployed closure; the app
	// survives a restart afterwards.
	if out, err := e.d.Exec(context.Background(), "nix-collect-garbage"); err != nil {
		t.Fatalf("nix-collect-garbage: %v\n%s", err, out)
	}
	e.docker(t, "restart", "nd-hello")
	if body := get(t, "http://"+e.d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
		t.Fatalf("after GC and restart the app answered %q", body)
	}
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestPushOnTerminal deploys with the real nd-push whose stderr is a
// pseudo-terminal: the live display shows the build, the host's line with
// the transfer and the agent's steps, and ends on the result with the
// build's time included; stdout still gets the plain result line.
func TestPushOnTerminal(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	bin := testutilBuild(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	// 3 MiB of incompressible data, so the transfer lasts a few frames.
	junk := make([]byte, 3<<20)
	rand.Read(junk)
	os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte("hello from a terminal\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "www", "junk.bin"), junk, 0o644)
	cfg := filepath.Join(dir, "config.nix")
	os.WriteFile(cfg, []byte(`{ pkgs, ... }: {
  docker.name = "term";
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p 8081 -h ${./www}";
  docker.ports = [ 8081 ];
}
`), 0o644)

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200})
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(copied) }()
	var stdout bytes.Buffer
	cmd := exec.Command(bin, "-F", e.d.SSHConfig(), "--agent-path", e.bins["nd-agent@droplet"], e.d.Name, cfg)
	cmd.Stdout, cmd.Stderr = &stdout, tty
	err = cmd.Run()
	tty.Close()
	<-copied
	out := ansi.ReplaceAllString(screen.String(), "")
	t.Logf("terminal:\n%s\nstdout:\n%s", out, stdout.String())
	if err != nil {
		t.Fatalf("nd-push on a terminal: %v", err)
	}
	for _, want := range []string{"build", "built ", "-nd-term (app term) in ", e.d.Name, " paths", "MiB", "term deployed generation 1", "with the build's"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal lacks %q", want)
		}
	}
	if !strings.Contains(screen.String(), "\x1b[") {
		t.Errorf("no live redraw on the terminal")
	}
	if !strings.HasPrefix(stdout.String(), e.d.Name+": term deployed generation 1 (host-store mode") {
		t.Errorf("stdout = %q, want the result line", stdout.String())
	}
	if body := get(t, "http://"+e.d.Addr+":8081/"); !strings.Contains(body, "hello from a terminal") {
		t.Errorf("app answered %q", body)
	}
}

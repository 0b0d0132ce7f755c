package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/proto"
)

// crashEnv is agent.CrashEnv (internal/cli may not import the agent).
const crashEnv = "ND_AGENT_CRASH_AT"

// restartAgent stops the droplet's nd-agent if it runs and starts it again,
// with crashAt set: the agent then SIGKILLs itself at that step.
func (e *deployEnv) restartAgent(t *testing.T, crashAt string) {
	t.Helper()
	ctx := context.Background()
	if e.d.Running("nd-agent") {
		if err := e.d.Stop(ctx, "nd-agent"); err != nil {
			t.Fatal(err)
		}
	}
	// A killed agent leaves its socket: waitAgent must see the new one.
	if out, err := e.d.Exec(ctx, "rm", "-f", "/run/nd-agent/agent.sock"); err != nil {
		t.Fatalf("removing the socket: %v %s", err, out)
	}
	argv := []string{e.bins["nd-agent@droplet"], "serve"}
	if crashAt != "" {
		argv = append([]string{"env", crashEnv + "=" + crashAt}, argv...)
	}
	if err := e.d.Start(ctx, "nd-agent", argv...); err != nil {
		t.Fatal(err)
	}
	e.waitAgent(t)
}

// agentState reads the droplet's state.json of app.
type agentState struct {
	Current     int                `json:"current"`
	Generations []proto.Generation `json:"generations"`
}

func (e *deployEnv) agentState(t *testing.T, app string) agentState {
	t.Helper()
	var st agentState
	// Read inside: a test may mount something over the state directory.
	data, err := e.d.Exec(context.Background(), "cat", "/var/lib/nd-agent/apps/"+app+"/state.json")
	if err != nil {
		t.Fatalf("reading state of %s: %v", app, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state of %s: %v", app, err)
	}
	return st
}

// settled reports "" when app upd on the droplet serves version want and
// nothing of an interrupted release is left, else what is wrong.
func (e *deployEnv) settled(t *testing.T, url, want string) string {
	t.Helper()
	ctx := context.Background()
	body, err := httpGet(url)
	if err != nil {
		return fmt.Sprintf("GET: %v", err)
	}
	if got := strings.TrimSpace(body); got != want+" v1" {
		return fmt.Sprintf("app answers %q, want %q", got, want+" v1")
	}
	if _, err := e.d.Exec(ctx, "test", "-e", "/var/lib/nd-agent/apps/upd/intent.json"); err == nil {
		return "intent.json still there"
	}
	st := e.agentState(t, "upd")
	out, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "ps", "-a", "--filter", "label=nd.app=upd",
		"--format", `{{.Names}} {{.State}} {{.Label "nd.generation"}} {{.Label "nd.package"}} {{.Image}}`)
	if err != nil {
		return fmt.Sprintf("docker ps: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		return fmt.Sprintf("containers of upd: %q, want nd-upd only", lines)
	}
	f := strings.Fields(lines[0])
	var cur *proto.Generation
	for i := range st.Generations {
		if st.Generations[i].Number == st.Current {
			cur = &st.Generations[i]
		}
	}
	if len(f) < 4 || f[0] != "nd-upd" || f[1] != "running" || cur == nil || f[2] != strconv.Itoa(st.Current) || f[3] != cur.Package {
		return fmt.Sprintf("container %q, state current %d %+v", lines[0], st.Current, cur)
	}
	var roots []string
	for _, g := range st.Generations {
		if g.Mode != "image" {
			roots = append(roots, strconv.Itoa(g.Number))
		}
	}
	ls, _ := e.d.Exec(ctx, "sh", "-c", "ls /nix/var/nix/gcroots/nd-agent/upd 2>/dev/null || true")
	have := strings.Fields(string(ls))
	slices.Sort(roots)
	slices.Sort(have)
	if e.d.HasNix && !slices.Equal(roots, have) {
		return fmt.Sprintf("GC roots %v, want %v (the host-store generations kept)", have, roots)
	}
	// Images: those of kept image-mode generations and the running one.
	imgs, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "images", "--no-trunc", "--format", "{{.ID}}", "nd/upd")
	if err != nil {
		return fmt.Sprintf("docker images: %v", err)
	}
	keep := map[string]bool{}
	for _, g := range st.Generations {
		keep[g.ImageID] = true
	}
	running := e.docker(t, "inspect", "-f", "{{.Image}}", "nd-upd")
	for _, id := range strings.Fields(string(imgs)) {
		if !keep[id] && id != running {
			return fmt.Sprintf("image %s of no kept generation is left", id)
		}
	}
	return ""
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func httpGet(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// waitSettled waits for settled to hold after an agent restart (its repair
// runs in the background).
func (e *deployEnv) waitSettled(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		why := e.settled(t, url, want)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
			t.Fatalf("not repaired (want %s serving): %s\nnd-agent log:\n%s", want, why, tail(string(log), 60))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitNothingOf waits until app has no container, volume, generation, GC
// root, intent record, image, image record or secrets on the droplet.
func (e *deployEnv) waitNothingOf(t *testing.T, app string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps, _ := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "ps", "-aq", "--filter", "label=nd.app="+app)
		rest, _ := e.d.Exec(ctx, "sh", "-c", "find /nix/var/nix/gcroots/nd-agent/"+app+" /var/lib/nd-agent/apps/"+app+"/images /var/lib/nd-agent/apps/"+app+"/secrets -mindepth 1 2>/dev/null; test -e /var/lib/nd-agent/apps/"+app+"/intent.json && echo intent.json; grep -l '\"number\"' /var/lib/nd-agent/apps/"+app+"/state.json 2>/dev/null; true")
		imgs, _ := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "images", "-q", "nd/"+app)
		vols, _ := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "volume", "ls", "-q", "--filter", "label=nd.app="+app)
		why := strings.TrimSpace(string(ps) + string(rest) + string(imgs) + string(vols))
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
			t.Fatalf("the interrupted first deploy of %s left %q\nnd-agent log:\n%s", app, why, tail(string(log), 40))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// slowStart makes the container ready only after 3 s, so that a kill one
// second after it starts lands in probation: a port that accepts
// connections makes it ready at once, so the web server listens only after
// 3 s (and nd-init reports it started after its 3 s startsecs).
const slowStart = `supervisord.services.web.startsecs = 3;
  imports = [ { supervisord.services.web.command = pkgs.lib.mkForce "${pkgs.runtimeShell} -c 'sleep 3; exec ${pkgs.busybox}/bin/busybox httpd -f -p 8090 -h ${www}'"; } ];`

// testRollbackToImageGeneration: an image-mode generation stays usable
// while it is kept, whatever mode later deploys use (issue 10, finding 6).
func testRollbackToImageGeneration(t *testing.T, e *deployEnv) {
	ctx := context.Background()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	v1 := versionedApp(t, t.TempDir(), "v1", "")
	v2 := versionedApp(t, t.TempDir(), "v2", "")
	if code, _, _ := e.push(t, "-b", e.d.Name, v1); code != 0 {
		t.Fatalf("push -b v1 exited %d", code)
	}
	if code, _, _ := e.push(t, e.d.Name, v2); code != 0 {
		t.Fatalf("push v2 exited %d", code)
	}
	if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
		t.Fatalf("v2 answered %q", got)
	}
	code, out, errOut := e.nd(t, ctx, "rollback", e.d.Name, "upd", "1")
	if code != 0 {
		t.Fatalf("rollback to the image-mode generation 1 exited %d: %s", code, errOut)
	}
	mustContain(t, "rollback output", out, "generation 3")
	if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
		t.Fatalf("after the rollback the app answered %q, want v1 v1", got)
	}
	// And back to the host-store generation 2, whose image was pruned: it
	// is made again from the store.
	if code, _, errOut := e.nd(t, ctx, "rollback", e.d.Name, "upd", "2"); code != 0 {
		t.Fatalf("rollback to generation 2 exited %d: %s", code, errOut)
	}
	e.waitSettled(t, url, "v2")
}

// crashCase is one step of a release at which the agent is killed, and
// whether the release had committed by then.
type crashCase struct {
	step      string
	committed bool
}

// retiring is the moment the previous container goes out of service: it
// is being stopped (a recreate deploy) or drains (an overlap deploy, where
// the new one already serves).
const retiring = "progress:stopping previous container|drains for"

// releaseSteps are the steps of the release path (internal/agent
// release.go) and, through their progress lines, of the runtime's container
// replacement.
var releaseSteps = []crashCase{
	{"intent", false},
	{"root", false},
	{"progress:preparing image", false},
	{retiring, false},
	{"progress:starting container", false},
	{"progress:starting container+1s", false}, // on probation
	{"progress:runs container", false},        // the new one has the app's name
	{"started", false},
	{"committed", true},
	{"retained", true},
}

var imageSteps = []crashCase{
	{"intent", false},
	{"prepared", false},
	{retiring, false},
	{"progress:starting container", false},
	{"progress:starting container+1s", false},
	{"progress:runs container", false},
	{"started", false},
	{"committed", true},
	{"retained", true},
}

// TestKillAgentDuringRelease kills the agent (SIGKILL, for real) at every
// step of a deploy, a rollback and an image-mode deploy, starts it again
// and checks that it repairs the app by itself: it serves the new version
// if the release had committed, else the previous one; state.json says so;
// and no container, GC root, image or intent record of the interrupted
// release is left (issue 10, finding 3).
func TestKillAgentDuringRelease(t *testing.T) {
	bins, root := deployBins(t)
	for _, mode := range []string{"deploy", "rollback", "image"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := startDeployEnv(t, fleet.Options{Nix: true}, bins, root)
			ctx := context.Background()
			url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
			cfgs := map[string]string{
				"v1": versionedApp(t, t.TempDir(), "v1", slowStart),
				"v2": versionedApp(t, t.TempDir(), "v2", slowStart),
			}
			var flags []string
			steps := releaseSteps
			if mode == "image" {
				flags, steps = []string{"-b"}, imageSteps
			}
			push := func(v string) (int, string, string) {
				return e.push(t, append(append([]string{}, flags...), e.d.Name, cfgs[v])...)
			}
			// A first deploy with a secret killed on probation (within its
			// release) or before its release began, once dockerd holds its
			// image (the head start's or the pulled one), leaves nothing.
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "s.env"), []byte("TOKEN=s3cr3t\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			withSecret := versionedApp(t, dir, "v1", slowStart+`
  docker.environmentFiles = [ "s.env" ];`)
			var firsts []string
			switch mode {
			case "deploy":
				firsts = []string{"progress:starting container+1s", "image prepared"}
			case "image":
				firsts = []string{"pulled"}
			}
			for _, step := range firsts {
				e.restartAgent(t, step)
				if code, _, _ := e.push(t, append(append([]string{}, flags...), e.d.Name, withSecret)...); code == 0 {
					t.Fatalf("step %s: the first deploy succeeded although the agent was killed", step)
				}
				e.restartAgent(t, "")
				e.waitNothingOf(t, "upd")
			}
			if code, _, _ := push("v1"); code != 0 {
				t.Fatalf("first push exited %d", code)
			}
			serving := "v1"
			if mode == "rollback" {
				if code, _, _ := push("v2"); code != 0 {
					t.Fatalf("second push exited %d", code)
				}
				serving = "v2"
			}
			e.waitSettled(t, url, serving)
			other := map[string]string{"v1": "v2", "v2": "v1"}
			for _, c := range steps {
				next := other[serving]
				e.restartAgent(t, c.step)
				var code int
				if mode == "rollback" {
					code, _, _ = e.nd(t, ctx, "rollback", e.d.Name, "upd")
				} else {
					code, _, _ = push(next)
				}
				if code == 0 {
					t.Fatalf("step %s: the %s succeeded: the agent never reached the step", c.step, mode)
				}
				for i := 0; e.d.Running("nd-agent"); i++ {
					if i > 100 {
						t.Fatalf("step %s: the agent did not kill itself", c.step)
					}
					time.Sleep(100 * time.Millisecond)
				}
				e.restartAgent(t, "")
				if c.committed {
					serving = next
				}
				e.waitSettled(t, url, serving)
				t.Logf("step %s: repaired, %s serving", c.step, serving)
			}
			// And the next release just works.
			if mode == "rollback" {
				if code, _, _ := e.nd(t, ctx, "rollback", e.d.Name, "upd"); code != 0 {
					t.Fatalf("rollback after the repairs exited %d", code)
				}
			} else if code, _, _ := push(other[serving]); code != 0 {
				t.Fatalf("push after the repairs exited %d", code)
			}
			e.waitSettled(t, url, other[serving])
		})
	}
}

// testDockerdGoneMidDeploy: dockerd stops while a new container is on
// probation (the old one is stopped then, and nd stopped it, so Docker's
// restart policy does not bring it back); then the same with the agent
// killed too, as in a reboot. The agent repairs the app once dockerd is
// back, with no push, and the next push works (issue 10, finding 3).
func testDockerdGoneMidDeploy(t *testing.T, e *deployEnv) {
	ctx := context.Background()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	v1 := versionedApp(t, t.TempDir(), "v1", slowStart)
	v2 := versionedApp(t, t.TempDir(), "v2", slowStart)
	if code, _, _ := e.push(t, e.d.Name, v1); code != 0 {
		t.Fatal("push v1 failed")
	}
	e.waitSettled(t, url, "v1")

	// dockerd stops and comes back while the agent runs on.
	done := make(chan int, 1)
	go func() {
		code, _, _ := e.push(t, e.d.Name, v2)
		done <- code
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "ps", "-q",
			"--filter", "label=nd.app=upd", "--filter", "label=nd.generation=2", "--filter", "status=running")
		if len(strings.TrimSpace(string(out))) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("generation 2 never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.d.RestartDocker(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code == 0 {
		t.Fatal("the deploy succeeded although dockerd went away on probation")
	}
	e.waitSettled(t, url, "v1")

	// A reboot: the agent dies on probation, dockerd restarts, the agent
	// starts again.
	e.restartAgent(t, "progress:starting container+1s")
	if code, _, _ := e.push(t, e.d.Name, v2); code == 0 {
		t.Fatal("the deploy succeeded although the agent was killed")
	}
	for i := 0; e.d.Running("nd-agent"); i++ {
		if i > 100 {
			t.Fatal("the agent did not kill itself")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.d.RestartDocker(ctx); err != nil {
		t.Fatal(err)
	}
	e.restartAgent(t, "")
	e.waitSettled(t, url, "v1")
	if code, _, errOut := e.push(t, e.d.Name, v2); code != 0 {
		t.Fatalf("the push after the reboot exited %d: %s", code, errOut)
	}
	e.waitSettled(t, url, "v2")
}

// TestRepairFaults runs issue 10's faults of findings 3 to 6 that need a
// droplet each, in parallel.
func TestRepairFaults(t *testing.T) {
	bins, root := deployBins(t)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *deployEnv)
	}{
		{"RollbackToImageGeneration", testRollbackToImageGeneration},
		{"DockerdGoneMidDeploy", testDockerdGoneMidDeploy},
		{"StateCorruptOnlyItsApp", testStateCorruptOnlyItsApp},
		{"StateDirFull", testStateDirFull},
		{"PushStoreFull", testPushStoreFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, startDeployEnv(t, fleet.Options{Nix: true}, bins, root))
		})
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/fleet"
)

// probeRate is the request rate of issue 11's figures, and probeMax bounds
// every probe loop (a minute at that rate).
const (
	probeRate = 50
	probeMax  = 3000
)

// bootingApp writes the config of a web app that, like issue 11's, takes 2 s
// to listen and answers its version behind an HTTP healthcheck; broken
// releases fail before they listen (a oneshot that exits 1).
func bootingApp(t testing.TB, dir, name string, port int, strategy, version string, broken bool) string {
	t.Helper()
	extra := ""
	if broken {
		extra = `supervisord.services.migrate = { command = "${pkgs.busybox}/bin/busybox false"; oneshot = true; };`
	}
	cfg := fmt.Sprintf(`{ pkgs, ... }:
let
  www = pkgs.runCommand "%[1]s-www" { } ''
    mkdir -p $out
    echo %[3]s > $out/index.html
  '';
in
{
  docker.name = "%[1]s";
  docker.deployStrategy = "%[4]s";
  docker.env.PATH = "${pkgs.busybox}/bin";
  supervisord.services.web.command = "${pkgs.runtimeShell} -c 'sleep 2; exec ${pkgs.busybox}/bin/busybox httpd -f -p %[2]d -h ${www}'";
  docker.ports = [ %[2]d ];
  docker.healthcheck = { http = { port = %[2]d; path = "/"; }; interval = 1; timeout = 1; retries = 3; };
  %[5]s
}
`, name, port, version, strategy, extra)
	sub := filepath.Join(dir, fmt.Sprintf("%s-%s", name, version))
	if broken {
		sub += "-broken"
	}
	os.MkdirAll(sub, 0o755)
	p := filepath.Join(sub, "config.nix")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOverlapDeployLosesNoRequest probes an app at 50 requests/s from
// outside the droplet while it is updated (from a container whose port
// Docker publishes, as agents before the switch left it), sent a broken
// release, and rolled back: no request may fail. Then the ports answer from the droplet
// itself (localhost), from the app's own container and from another
// container, show in status and labels, and
// come back after the rules, dockerd and the agent are all gone, as after
// a reboot.
//
// It runs on bookworm (Docker 20.10, iptables-nft with Docker's classic
// chains) and modern (Docker 28.5, whose FORWARD rules drop traffic to
// unpublished container ports) droplets, in parallel.
func TestOverlapDeployLosesNoRequest(t *testing.T) {
	bins, root := deployBins(t)
	fleet.RunMatrix(t, fleet.Only(fleet.Matrix(fleet.Options{Nix: true}), "bookworm", "modern"), func(t *testing.T, v fleet.Variant) {
		testOverlap(t, startDeployEnv(t, v.Options, bins, root))
	})
}

func testOverlap(t *testing.T, e *deployEnv) {
	ctx := context.Background()
	dir := t.TempDir()
	host := e.d.Name
	const port = 8095
	url := fmt.Sprintf("http://%s:%d/", e.d.Addr, port)
	app := func(v string, broken bool) string { return bootingApp(t, dir, "zd", port, "overlap", v, broken) }

	// v1 comes from an agent that cannot route ports (no iptables-restore
	// on its PATH), as from nd before the switch: Docker publishes the
	// port. The update to v2 below is then also the upgrade path.
	restartAgent := func(argv ...string) {
		t.Helper()
		if err := e.d.Stop(ctx, "nd-agent"); err != nil {
			t.Fatal(err)
		}
		if err := e.d.Start(ctx, "nd-agent", append(argv, e.bins["nd-agent@droplet"], "serve")...); err != nil {
			t.Fatal(err)
		}
		e.waitAgent(t)
	}
	restartAgent("env", "PATH=/usr/local/bin:/usr/bin:/bin")
	if code, _, _ := e.push(t, host, app("v1", false)); code != 0 {
		t.Fatalf("deploying v1 exited %d", code)
	}
	if err := waitAnswer(ctx, url, "v1", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := e.docker(t, "ps", "--filter", "label=nd.app=zd", "--format", "{{.Ports}}"); !strings.Contains(got, fmt.Sprintf(":%d->%d/tcp", port, port)) {
		t.Errorf("without iptables-restore the port is %q, want it published by Docker", got)
	}
	restartAgent()

	probe := func(name, want string, f func()) {
		t.Helper()
		p := startProbe(url, probeRate, probeMax)
		time.Sleep(500 * time.Millisecond) // service before the deploy starts
		f()
		time.Sleep(500 * time.Millisecond)
		res := p.Stop()
		t.Logf("%s: %v", name, res)
		if res.Failed != 0 {
			t.Errorf("%s: %d of %d requests failed (first: %s), want 0", name, res.Failed, res.Sent, res.FirstError)
		}
		if got := res.Answers[len(res.Answers)-1]; got != want {
			t.Errorf("%s: the app answers %q at the end, want %q", name, got, want)
		}
	}
	probe("update", "v2", func() {
		code, out, _ := e.push(t, host, app("v2", false))
		if code != 0 {
			t.Fatalf("deploying v2 exited %d", code)
		}
		mustContain(t, "update output", out, "generation 2")
	})
	probe("broken release", "v2", func() {
		code, _, errOut := e.push(t, host, app("v3", true))
		if code != 1 {
			t.Fatalf("deploying a broken v3 exited %d, want 1", code)
		}
		mustContain(t, "broken release error", errOut, "kept serving", "last log lines")
	})
	probe("rollback", "v1", func() {
		code, out, _ := e.nd(t, ctx, "rollback", host, "zd", "1")
		if code != 0 {
			t.Fatalf("rollback exited %d", code)
		}
		mustContain(t, "rollback output", out, "generation 3")
	})

	// The live container is the one named nd-zd; it alone is left once the
	// rollback's drain (2 s, after the reply) is over, it publishes nothing
	// through Docker and its label lists the ports.
	for deadline := time.Now().Add(15 * time.Second); e.docker(t, "ps", "-aq", "--filter", "name=^nd.prev-zd$") != "" && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	if names := e.docker(t, "ps", "-a", "--filter", "label=nd.app=zd", "--format", "{{.Names}} {{.Label \"nd.ports\"}} {{.Ports}}"); names != fmt.Sprintf("nd-zd :%d:%d/tcp %d/tcp", port, port, port) {
		t.Errorf("docker ps says %q, want only nd-zd with label nd.ports and no published port", names)
	}
	code, out, _ := e.nd(t, ctx, "status", "--json", host, "zd")
	var st StatusJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Apps) != 1 || st.Apps[0].Container == nil {
		t.Fatalf("status --json exited %d: %q", code, out)
	}
	c := st.Apps[0].Container
	addr := e.docker(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "nd-zd")
	if want := fmt.Sprintf("%d->%s:%d/tcp", port, addr, port); c.PortsBy != "nd-agent" || len(c.Routes) != 1 || c.Routes[0] != want {
		t.Errorf("status says ports by %q, routes %q; want nd-agent, [%s]", c.PortsBy, c.Routes, want)
	}

	// From the droplet itself, by localhost and by its address.
	for _, u := range []string{fmt.Sprintf("http://127.0.0.1:%d/", port), url} {
		if out, err := e.d.Exec(ctx, "curl", "-sS", "-m", "5", u); err != nil || strings.TrimSpace(string(out)) != "v1" {
			t.Errorf("curl %s on the droplet: %v %q, want v1", u, err, out)
		}
	}
	// The app's own container through the host's address (a hairpin: the
	// bridge must send the frame back out of the port it came in by).
	if out, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "exec", "nd-zd", "timeout", "10", "wget", "-q", "-O-", url); err != nil || strings.TrimSpace(string(out)) != "v1" {
		t.Errorf("wget %s in the app's own container: %v %q, want v1", url, err, out)
	}
	// Another container on the bridge: the app's image with the host's
	// store, running busybox wget.
	wget := e.docker(t, "exec", "nd-zd", "sh", "-c", "command -v wget")
	img := e.docker(t, "inspect", "-f", "{{.Image}}", "nd-zd")
	if out, err := e.d.Exec(ctx, "docker", "-H", "unix:///run/docker.sock", "run", "--rm", "-v", "/nix/store:/nix/store:ro",
		"--entrypoint", filepath.Join(filepath.Dir(wget), "timeout"), img, "10", wget, "-q", "-O-", url); err != nil || strings.TrimSpace(string(out)) != "v1" {
		rules, _ := e.d.Exec(ctx, "iptables-save", "-c")
		t.Errorf("wget %s in another container: %v %q, want v1; rules:\n%s", url, err, out, rules)
	}

	// As after a reboot: the agent down, its rules gone, dockerd restarted
	// (containers restart, maybe on new addresses), then the agent starts
	// and routes the ports to the live container again.
	if err := e.d.Stop(ctx, "nd-agent"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-t", "nat", "-F", "ND-DNAT"}, {"-t", "nat", "-F", "ND-SNAT"}, {"-F", "ND-FORWARD"}} {
		if out, err := e.d.Exec(ctx, append([]string{"iptables", "-w"}, args...)...); err != nil {
			t.Fatalf("iptables %v: %v %s", args, err, out)
		}
	}
	if err := e.d.RestartDocker(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Start(ctx, "nd-agent", e.bins["nd-agent@droplet"], "serve"); err != nil {
		t.Fatal(err)
	}
	if err := waitAnswer(ctx, url, "v1", 30*time.Second); err != nil {
		t.Errorf("after the rules, dockerd and the agent were gone: %v", err)
	}

	// While the old container drains, status and docker ps show both: the
	// live one as nd-zd, the draining one as nd.prev-zd.
	e.waitAgent(t)
	cfg := app("v4", false)
	src, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(src, []byte("docker.name"), []byte("docker.drainTime = 60;\n  docker.name"), 1), 0o644)
	pushed := make(chan int, 1)
	go func() { code, _, _ := e.push(t, host, cfg); pushed <- code }()
	sawDraining := false
	for deadline := time.Now().Add(60 * time.Second); !sawDraining && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		code, out, _ := e.nd(t, ctx, "status", "--json", host, "zd")
		var st StatusJSON
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Apps) != 1 || st.Apps[0].Container == nil || st.Apps[0].Container.Draining == nil {
			continue
		}
		sawDraining = true
		c := st.Apps[0].Container
		if c.Draining.Generation != 3 || c.Generation != 4 {
			t.Errorf("status: live generation %d, draining %d; want 4 and 3", c.Generation, c.Draining.Generation)
		}
		_, text, _ := e.nd(t, ctx, "status", host)
		mustContain(t, "status while draining", text, "draining "+c.Draining.ID[:12])
		names := e.docker(t, "ps", "--filter", "label=nd.app=zd", "--format", "{{.Names}} {{.Label \"nd.generation\"}}")
		mustContain(t, "docker ps while draining", names, "nd-zd 4", "nd.prev-zd 3")
	}
	if !sawDraining {
		t.Errorf("status never showed a draining container during a 60 s drain")
	}
	// The push said "deployed" at the switch, long before the drain ends.
	select {
	case code := <-pushed:
		if code != 0 {
			t.Errorf("the push during which the old container drains exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the push has not returned 30 s into a 60 s drain: it waits for the drain")
		<-pushed
	}
	if e.docker(t, "ps", "-q", "--filter", "name=^nd.prev-zd$") == "" {
		t.Fatalf("nd.prev-zd no longer runs: the drain did not last its 60 s")
	}
	// The agent dies mid-drain (kill -9, found by its socket); the next one
	// finishes the drain when it starts.
	ssOut, err := e.d.Exec(ctx, "ss", "-Hxlp", "src", "/run/nd-agent/agent.sock")
	pid := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(string(ssOut))
	if err != nil || pid == nil {
		t.Fatalf("finding nd-agent's pid: %v %q", err, ssOut)
	}
	if out, err := e.d.Exec(ctx, "kill", "-9", pid[1]); err != nil {
		t.Fatalf("kill -9 %s: %v %s", pid[1], err, out)
	}
	restartAgent()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if e.docker(t, "ps", "-aq", "--filter", "name=^nd.prev-zd$") == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the agent restarted, nd.prev-zd is still there")
		}
	}
	if err := waitAnswer(ctx, url, "v4", 10*time.Second); err != nil {
		t.Error(err)
	}

	// A host port a program on the droplet holds is refused before anything
	// changes.
	if err := e.d.Start(ctx, "blocker", "busybox", "nc", "-l", "-p", "8096"); err != nil {
		t.Fatal(err)
	}
	waitListen := time.Now().Add(5 * time.Second)
	for {
		if out, _ := e.d.Exec(ctx, "sh", "-c", "ss -Hltn 'sport = :8096' || true"); strings.Contains(string(out), "8096") || time.Now().After(waitListen) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, errOut := e.push(t, host, bootingApp(t, dir, "zd-taken", 8096, "overlap", "v1", false)); code != 1 || !strings.Contains(errOut, "8096/tcp is in use by a program on the host") {
		t.Errorf("deploying onto a taken host port exited %d (%q), want 1 and the port named", code, errOut)
	}
	if got := e.docker(t, "ps", "-aq", "--filter", "label=nd.app=zd-taken"); got != "" {
		t.Errorf("the refused deploy left containers %q", got)
	}
	e.d.Stop(ctx, "blocker")

	// rm takes the app's rules with it.
	if code, _, _ := e.nd(t, ctx, "rm", host, "zd"); code != 0 {
		t.Fatalf("rm exited %d", code)
	}
	if rules, err := e.d.Exec(ctx, "iptables-save"); err != nil || strings.Contains(string(rules), "nd:zd") {
		t.Errorf("after rm the rules are (%v):\n%s", err, rules)
	}
}

// TestOverlapIPv6 turns on Docker's IPv6 on a modern droplet (Docker 28.5):
// containers then have IPv6 addresses, and the app's port must answer on
// the host's IPv6 address through the agent's ip6tables rules, and follow
// an update to the new container.
func TestOverlapIPv6(t *testing.T) {
	bins, root := deployBins(t)
	e := startDeployEnv(t, fleet.Options{Kind: fleet.Modern, Nix: true}, bins, root)
	ctx := context.Background()
	dj := `{"ipv6": true, "fixed-cidr-v6": "fd00:d0c::/64", "log-level": "warn"}`
	if out, err := e.d.Exec(ctx, "sh", "-c", "echo '"+dj+"' > /etc/docker/daemon.json"); err != nil {
		t.Fatalf("writing daemon.json: %v %s", err, out)
	}
	if err := e.d.RestartDocker(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const port = 8097
	url := fmt.Sprintf("http://[fd00:d0c::1]:%d/", port) // docker0's address: the host's own
	curl := func() string {
		out, _ := e.d.Exec(ctx, "curl", "-sS", "-g", "-m", "5", url)
		return strings.TrimSpace(string(out))
	}
	for _, v := range []string{"v1", "v2"} {
		if code, _, _ := e.push(t, e.d.Name, bootingApp(t, dir, "zd6", port, "overlap", v, false)); code != 0 {
			t.Fatalf("deploying %s exited %d", v, code)
		}
		if got := curl(); got != v {
			t.Errorf("after deploying %s, %s answered %q", v, url, got)
		}
	}
	addr6 := e.docker(t, "inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}", "nd-zd6")
	code, out, _ := e.nd(t, ctx, "status", "--json", e.d.Name, "zd6")
	var st StatusJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Apps) != 1 || st.Apps[0].Container == nil {
		t.Fatalf("status --json exited %d: %q", code, out)
	}
	if want := fmt.Sprintf("%d->[%s]:%d/tcp", port, addr6, port); addr6 == "" || !strings.Contains(strings.Join(st.Apps[0].Container.Routes, " "), want) {
		t.Errorf("routes %q, want one to %s", st.Apps[0].Container.Routes, want)
	}
}

// TestIPv6ClientOfIPv4App: with Docker's IPv6 off (its default) containers
// have no IPv6 address, and an IPv6 client of a published port (here the
// droplet's own [::1]) reaches the app through the agent's relay, as it did
// through Docker's userland proxy, before and after an update, while no
// deploy refuses the port the app's relay holds, and after an agent restart.
// After rm it is refused.
func TestIPv6ClientOfIPv4App(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	ctx := context.Background()
	dir := t.TempDir()
	const port = 8098
	curl := func(host string) (string, error) {
		out, err := e.d.Exec(ctx, "curl", "-sS", "-g", "-m", "5", fmt.Sprintf("http://%s:%d/", host, port))
		return strings.TrimSpace(string(out)), err
	}
	for _, v := range []string{"v1", "v2"} {
		if code, _, _ := e.push(t, e.d.Name, bootingApp(t, dir, "zd7", port, "overlap", v, false)); code != 0 {
			t.Fatalf("deploying %s exited %d", v, code)
		}
		for _, host := range []string{"[::1]", "127.0.0.1"} {
			if got, err := curl(host); got != v {
				t.Errorf("after deploying %s, %s answered %q (%v)", v, host, got, err)
			}
		}
	}
	// A restarted agent relays again (its port sweep routes every app).
	e.restartAgent(t, "")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, err := curl("[::1]")
		if got == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after an agent restart, [::1] answered %q (%v)", got, err)
		}
	}
	if code, _, _ := e.nd(t, ctx, "rm", e.d.Name, "zd7"); code != 0 {
		t.Fatalf("rm exited %d", code)
	}
	if got, err := curl("[::1]"); err == nil {
		t.Errorf("after rm, [::1] answered %q", got)
	}
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkImageMode prints nd-push's image mode next to `docker save IMAGE
// | ssh HOST docker load` of the same image, over a 200 Mbit/s link to
// droplets without Nix, for a ~500 MB / 200-path closure (the closure
// package's benchmark closure): a cold deploy, then an update that changes
// one small path. It is a figure printer, not a timed test:
//
//	go test -run XXX -bench BenchmarkImageMode -benchtime 1x -timeout 30m ./internal/cli
//	scripts/bench.sh image
func BenchmarkImageMode(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireCommands(b, "nix-build", "nix-store", "dockerd", "docker", "sshd", "ssh")
	testutil.Require(b, exec.Command("docker", "info").Run() == nil, "needs the local dockerd (scripts/setup.sh starts it)")
	ctx := context.Background()
	bins := testutil.BuildBinaries(b, "nd-agent", "nd-init")
	os.Setenv("ND_INIT", bins["nd-init"])
	defer os.Unsetenv("ND_INIT")

	top := nixtest.BenchClosure(b, 200, 500<<20)
	dir := b.TempDir()
	pkgs := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		cfg := filepath.Join(dir, v, "config.nix")
		os.MkdirAll(filepath.Dir(cfg), 0o755)
		os.WriteFile(cfg, []byte(benchAppConfig(top, v)), 0o644)
		var out, errb bytes.Buffer
		if code := Run(ctx, []string{"build", cfg}, &out, &errb); code != 0 {
			b.Fatalf("building %s: %s", v, errb.String())
		}
		pkgs[v] = strings.TrimSpace(out.String())
	}

	// The same images in the laptop's dockerd, for docker save. Building
	// them also fills nd-push's layer digest cache, as a build before a
	// deploy would; the cold-cache build time is printed on its own.
	cache := b.TempDir()
	os.Setenv("XDG_CACHE_HOME", cache)
	defer os.Unsetenv("XDG_CACHE_HOME")
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: hclog.NewNullLogger()}
	tags := map[string]string{}
	var coldBuild time.Duration
	var imageBytes int64
	for _, v := range []string{"v1", "v2"} {
		pkg, err := manifest.LoadPackage(pkgs[v])
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		img, err := buildLayeredImage(ctx, env, pkg, "")
		if err != nil {
			b.Fatal(err)
		}
		if v == "v1" {
			coldBuild = time.Since(start)
			for _, l := range img.Layers {
				imageBytes += l.Size
			}
		}
		tags[v] = img.RepoTag
		load := exec.Command("docker", "load")
		pr, pw := io.Pipe()
		load.Stdin = pr
		go func() { pw.CloseWithError(img.WriteDockerArchive(pw, nil)) }()
		if out, err := load.CombinedOutput(); err != nil {
			b.Fatalf("docker load on the laptop: %v: %s", err, out)
		}
		defer exec.Command("docker", "rmi", img.RepoTag).Run()
	}

	ds := fleet.ForTest(b, 2, fleet.Options{Nix: false, Rate: "200mbit"})
	ndHost, dockerHost := ds[0], ds[1]
	agentBin := "/var/lib/nd-test/nd-agent"
	copyFileTB(b, bins["nd-agent"], ndHost.Path(agentBin))
	if err := ndHost.Start(ctx, "nd-agent", agentBin, "serve"); err != nil {
		b.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(ndHost.Path("/run/nd-agent/agent.sock")); err == nil {
			break
		}
		if i > 200 {
			b.Fatalf("nd-agent did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	time.Sleep(time.Second)
	agentPID, _ := ndHost.PID("nd-agent")
	idleRSS := procStatus(agentPID, "VmRSS")

	type ndRun struct {
		total, loaded time.Duration
		sent          int64
		stages        stageRun
	}
	push := func(pkg string) ndRun {
		exec.Command("sync").Run()
		off, cpu0 := startStages(ndHost)
		o, err := parsePushArgs([]string{"-F", ndHost.SSHConfig(), "--agent-path", agentBin, ndHost.Name, pkg})
		if err != nil {
			b.Fatal(err)
		}
		var out, errb bytes.Buffer
		start := time.Now()
		rec := &stageClock{start: start}
		env := &Env{Stdout: &out, Stderr: &errb, Log: hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: rec})}
		if err := runPush(ctx, env, o); err != nil {
			log, _ := os.ReadFile(ndHost.LogFile("nd-agent"))
			b.Fatalf("nd-push: %v\n%s\nagent log:\n%s", err, errb.String(), log)
		}
		r := ndRun{total: time.Since(start), loaded: rec.deployAt, sent: sentBytes(b, out.String())}
		r.stages = stageRun{start: start, end: start.Add(r.total), wire: r.sent}
		endStages(b, ndHost, &r.stages, off, cpu0)
		b.Logf("nd-push: %s", strings.TrimSpace(out.String()))
		return r
	}
	saveLoad := func(tag string) (time.Duration, int64) {
		exec.Command("sync").Run()
		start := time.Now()
		save := exec.Command("docker", "save", tag)
		load := exec.Command("ssh", "-F", dockerHost.SSHConfig(), dockerHost.Name, "docker", "load")
		sp, err := save.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cr := &countReader{r: sp}
		load.Stdin = cr
		var lout bytes.Buffer
		load.Stdout, load.Stderr = &lout, &lout
		if err := save.Start(); err != nil {
			b.Fatal(err)
		}
		if err := load.Run(); err != nil {
			b.Fatalf("ssh docker load: %v: %s", err, lout.String())
		}
		if err := save.Wait(); err != nil {
			b.Fatalf("docker save: %v", err)
		}
		return time.Since(start), cr.n
	}

	ndCold := push(pkgs["v1"])
	if body := getTB(b, "http://"+ndHost.Addr+":8090/cgi-bin/info"); !strings.Contains(body, "v1") {
		b.Fatalf("the app answered %q after the cold deploy", body)
	}
	dCold, dColdBytes := saveLoad(tags["v1"])
	ndUpd := push(pkgs["v2"])
	dUpd, dUpdBytes := saveLoad(tags["v2"])

	ratio := func(a, b float64) string { return fmt.Sprintf("%.3g", a/b) }
	sec := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintf(&sb, "\nimage mode vs docker save | ssh docker load — %d-path closure, image %s uncompressed, 200 Mbit/s, droplets without Nix\n", 200, humanBytes(imageBytes))
	fmt.Fprintln(tw, "case\tnd-push\tdocker save|ssh load\tnd / docker\ttarget")
	fmt.Fprintf(tw, "(a) update, bytes sent\t%s\t%s\t%s\t< 0.05\n", humanBytes(ndUpd.sent), humanBytes(dUpdBytes), ratio(float64(ndUpd.sent), float64(dUpdBytes)))
	fmt.Fprintf(tw, "(a) update, time to image loaded\t%s\t%s\t%s\t≤ 0.1 (≥10x faster)\n", sec(ndUpd.loaded), sec(dUpd), ratio(ndUpd.loaded.Seconds(), dUpd.Seconds()))
	fmt.Fprintf(tw, "(a) update, nd-push total (+ container replaced, processes started)\t%s\t%s\t%s\t\n", sec(ndUpd.total), sec(dUpd), ratio(ndUpd.total.Seconds(), dUpd.Seconds()))
	fmt.Fprintf(tw, "(b) cold, bytes sent\t%s\t%s\t%s\t\n", humanBytes(ndCold.sent), humanBytes(dColdBytes), ratio(float64(ndCold.sent), float64(dColdBytes)))
	fmt.Fprintf(tw, "(b) cold, time to image loaded\t%s\t%s\t%s\t≤ 0.6\n", sec(ndCold.loaded), sec(dCold), ratio(ndCold.loaded.Seconds(), dCold.Seconds()))
	fmt.Fprintf(tw, "(b) cold, nd-push total (+ container started, processes started)\t%s\t%s\t%s\t≤ 0.6\n", sec(ndCold.total), sec(dCold), ratio(ndCold.total.Seconds(), dCold.Seconds()))
	fmt.Fprintf(tw, "layered image build on the laptop, cold digest cache (once per new package)\t%s\t\t\t\n", sec(coldBuild))
	limit := float64(ndCold.sent) / linkBytesPerSec
	fmt.Fprintf(tw, "(b) cold, nd-push total vs the link (nd's bytes / 25 MB/s)\t%s\t%s\t%s\t≤ 1.3\n", sec(ndCold.total), sec(time.Duration(limit*float64(time.Second))), ratio(ndCold.total.Seconds(), limit))
	fmt.Fprintf(tw, "(a) update, nd-push total\t%s\t\t\t≤ 1.0 s\n", sec(ndUpd.total))
	fmt.Fprintf(tw, "agent idle RSS (1 s after start)\t%.1f MiB\t\t\t≤ 25 MiB\n", float64(idleRSS)/(1<<20))
	tw.Flush()
	sb.WriteString(stageTable("image mode cold deploy (nd-push in the benchmark's process: no laptop CPU figure)", ndCold.stages, linkBytesPerSec))
	sb.WriteString(stageTable("image mode update", ndUpd.stages, linkBytesPerSec))
	fmt.Print(sb.String())
	b.Log(sb.String())
}

// stageClock is an hclog output that notes when the agent reported its
// deploy stage: the image is loaded and checked by then.
type stageClock struct {
	mu       sync.Mutex
	start    time.Time
	deployAt time.Duration
}

func (s *stageClock) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deployAt == 0 && bytes.Contains(p, []byte("stage=deploy")) {
		s.deployAt = time.Since(s.start)
	}
	return len(p), nil
}

// getTB fetches url, retrying for a few seconds.
func getTB(t testing.TB, url string) string {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		var resp *http.Response
		if resp, err = http.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func copyFileTB(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// benchAppConfig is an app whose code (one small store path) uses the
// benchmark closure as its runtime; versions differ only in that code.
func benchAppConfig(runtime, version string) string {
	return fmt.Sprintf(`{ pkgs, ... }:
let
  rt = builtins.storePath "%s";
  code = pkgs.runCommand "bench-code" { } ''
    mkdir -p $out/cgi-bin
    cat > $out/cgi-bin/info <<EOF
    #!${pkgs.runtimeShell}
    echo "Content-Type: text/plain"
    echo
    echo "%s ${rt}"
    EOF
    chmod +x $out/cgi-bin/info
  '';
in
{
  docker.name = "bench";
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p 8090 -h ${code}";
  docker.ports = [ 8090 ];
}
`, runtime, version)
}

package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkSubstitute prints issue 12's substitution figures in one run:
// a cold deploy of a ~500 MB / ~200-path closure of real, distinct package
// files (packageClosure) whose bulk (all but the app's own paths) sits in a
// signed binary cache (zstd, as cache.nixos.org serves it) near the
// droplet, with SSH shaped to 200 Mbit/s and the cache's traffic not, by
//
//   - nd-push (the droplet substitutes first),
//   - nd-push --no-substitute (the behaviour before: everything over SSH),
//   - nix-copy-closure --use-substitutes (copies only: no deploy),
//
// on bookworm droplets (Nix 2.8) and modern ones (Nix 2.34), each variant
// ND_BENCH_ROUNDS times (default 3) on fresh droplets, interleaved, with
// the median and best side by side. The droplets' own nix.conf names the
// cache, as a user's would. A droplet goes once its run is over (retire).
//
// A figure printer, not a timed test:
//
//	go test -run XXX -bench BenchmarkSubstitute -benchtime 1x -timeout 40m ./internal/cli
func BenchmarkSubstitute(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireCommands(b, "nix-build", "nix-store", "nix", "nix-copy-closure", "dockerd", "sshd", "ssh", "tc")
	ctx := context.Background()
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("ND_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	bins := testutil.BuildBinaries(b, "nd-push", "nd-agent", "nd-init")

	top := packageClosure(b, 500<<20)
	cfg := filepath.Join(b.TempDir(), "subst", "config.nix")
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte(benchAppConfig(top, "v1")), 0o644)
	start := time.Now()
	out, err := exec.Command(bins["nd-push"], "build", cfg).Output()
	if err != nil {
		b.Fatalf("building: %v", err)
	}
	pkg := strings.TrimSpace(string(out))
	build := time.Since(start)

	cache := newBenchCache(b, top)
	kinds := []struct {
		kind fleet.Kind
		name string
	}{{fleet.Bookworm, "bookworm"}, {fleet.Modern, "modern"}}
	type variant struct {
		name string
		run  func(d *fleet.Droplet) (benchRun, error)
		runs []benchRun
	}
	var tables [][]*variant
	var nixVersions []string
	var all [][]*fleet.Droplet
	for _, k := range kinds {
		// One more droplet for the warm-up deploy.
		all = append(all, fleet.ForTest(b, 3*rounds+1, fleet.Options{Kind: k.kind, Nix: true}))
	}
	for ki, ds := range all {
		for _, d := range ds {
			if err := d.ShapeSSH(ctx, "200mbit"); err != nil {
				b.Fatal(err)
			}
			cache.configure(b, d)
		}
		v, _ := ds[0].Exec(ctx, "nix-store", "--version")
		nixVersions = append(nixVersions, kinds[ki].name+", "+strings.TrimSpace(strings.TrimPrefix(string(v), "nix-store (Nix) ")))
		push := func(extra ...string) func(d *fleet.Droplet) (benchRun, error) {
			return func(d *fleet.Droplet) (benchRun, error) { return benchPush(b, bins, cache, d, pkg, extra...) }
		}
		vs := []*variant{
			{name: "nd-push (substitutes on the droplet)", run: push()},
			{name: "nd-push --no-substitute (before)", run: push("--no-substitute")},
			{name: "nix-copy-closure --use-substitutes (copy only)", run: func(d *fleet.Droplet) (benchRun, error) {
				return benchCopyClosure(cache, d, pkg)
			}},
		}
		tables = append(tables, vs)
	}
	// A warm-up deploy per kind, not counted: in the first round after the
	// droplets boot every variant ran 20-40% slower than in the rounds
	// after it (the machine settling, whatever ran), which the median of
	// three still showed.
	for ki := range kinds {
		if _, err := tables[ki][0].run(all[ki][3*rounds]); err != nil {
			b.Fatalf("%s, warm-up: %v", kinds[ki].name, err)
		}
		retire(b, all[ki][3*rounds])
	}
	// Round r runs every variant on both kinds, in an order rotated by r,
	// so that a slow moment of the shared machine hits each in turn.
	for r := range rounds {
		for k := range 3 {
			for ki := range kinds {
				i := (k + r) % 3
				v := tables[ki][i]
				d := all[ki][3*r+i]
				res, err := v.run(d)
				if err != nil {
					b.Fatalf("%s, %s: %v", kinds[ki].name, v.name, err)
				}
				v.runs = append(v.runs, res)
				retire(b, d)
			}
		}
	}

	c := cache.closure
	fmt.Printf("\ncold deploy of %s: %d paths, %.0f MiB of NAR, %.0f MiB in the cache (zstd %.1fx), filled in %.1fs; package built in %.1fs (not counted)\n",
		pkg, c.paths, mib(c.narBytes), mib(c.fileBytes), float64(c.narBytes)/float64(c.fileBytes), cache.fill.Seconds(), build.Seconds())
	fmt.Printf("SSH to the droplet shaped to 200 Mbit/s, the cache's link not; %d fresh droplets per variant (after one warm-up deploy, not counted), median (best)\n", rounds)
	for ki, vs := range tables {
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "\n%s\tmedian s\tbest s\truns s\tover SSH\tfrom cache\tstages (median run)\n", nixVersions[ki])
		for _, v := range vs {
			m := medianRun(v.runs)
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%.1f MiB\t%.1f MiB\t%s\n", v.name, m.wall.Seconds(), bestRun(v.runs).wall.Seconds(),
				runsString(v.runs), mib(m.sshBytes), mib(m.cacheBytes), m.stages)
		}
		sub, base := vs[0].runs, vs[1].runs
		fmt.Fprintf(tw, "speed-up over --no-substitute\t%.1fx\t%.1fx\t\t\t\t\n",
			medianRun(base).wall.Seconds()/medianRun(sub).wall.Seconds(), bestRun(base).wall.Seconds()/bestRun(sub).wall.Seconds())
		tw.Flush()
		// What bounds --no-substitute: the link, or the droplet's import.
		fmt.Printf("(the 200 Mbit/s link alone carries --no-substitute's %.1f MiB in %.1fs)\n",
			mib(medianRun(base).sshBytes), float64(medianRun(base).sshBytes)*8/200e6)
	}
}

// retire tears down a droplet whose run is over, so that the page cache of
// what it received (509 MiB per droplet, 20 droplets) does not pile up and
// slow the runs after it; then it writes back what the teardown left.
// Each droplet's disk is one image file with a journaled ext4 in it (see
// internal/fleet/disk.go), so removing one frees one inode of this
// machine's journal-less root file system, whose recently freed inodes
// slow file creation, not the droplet's hundreds of thousands.
func retire(b *testing.B, d *fleet.Droplet) {
	b.Helper()
	if err := fleet.Down(d.Name); err != nil {
		b.Fatalf("tearing down %s: %v", d.Name, err)
	}
	exec.Command("sync").Run()
	// ND_BENCH_PAUSE=20s: an idle pause before the next run, to see how
	// much of a later round's slowdown is the machine's.
	if p, err := time.ParseDuration(os.Getenv("ND_BENCH_PAUSE")); err == nil && p > 0 {
		time.Sleep(p)
	}
}

// benchRun is one variant's run on one droplet.
type benchRun struct {
	wall       time.Duration
	sshBytes   int64  // laptop → droplet on port 22, as the shaper counted
	cacheBytes int64  // served by the cache to this droplet
	stages     string // where the time went, as far as the tool says
}

var (
	benchSentRE  = regexp.MustCompile(`sent \d+ paths, .* on the wire in ([0-9.]+)s`)
	benchTookRE  = regexp.MustCompile(`substituted: .*took=([0-9.]+m?s)`)
	benchFinalRE = regexp.MustCompile(`\d+ paths / [0-9.]+ [KMG]?i?B sent`)
)

// benchPush deploys pkg with nd-push to a fresh droplet running the agent
// and says how long the droplet's Nix substituted (the agent's log) and how
// long the sending took (nd-push -v).
func benchPush(b *testing.B, bins map[string]string, cache *benchCache, d *fleet.Droplet, pkg string, extra ...string) (benchRun, error) {
	agentBin := "/var/lib/nd-bench/nd-agent"
	copyFileTB(b, bins["nd-agent"], d.Path(agentBin))
	agentArgs := []string{agentBin, "serve"}
	if os.Getenv("ND_BENCH_TRACE") != "" {
		agentArgs = append(agentArgs, "--log-level", "debug")
	}
	if err := d.Start(context.Background(), "nd-agent", agentArgs...); err != nil {
		return benchRun{}, err
	}
	(&deployEnv{d: d}).waitAgent(b)
	ssh0, cache0 := sshBytes(b, d), cache.served(d)
	exec.Command("sync").Run()
	start := time.Now()
	cmd := exec.Command(bins["nd-push"], append(append([]string{"-v", "-F", d.SSHConfig()}, extra...), d.Name, pkg)...)
	cmd.Env = append(os.Environ(), "ND_INIT="+bins["nd-init"])
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return benchRun{}, fmt.Errorf("nd-push: %v\n%s", err, out.String())
	}
	r := benchRun{wall: time.Since(start), sshBytes: sshBytes(b, d) - ssh0, cacheBytes: cache.served(d) - cache0}
	if !benchFinalRE.MatchString(out.String()) {
		return r, fmt.Errorf("nd-push said %q", out.String())
	}
	var stages []string
	if t := os.Getenv("ND_BENCH_TRACE"); t != "" {
		lg, _ := os.ReadFile(d.LogFile("nd-agent"))
		os.WriteFile(filepath.Join(t, d.Name+strings.Join(extra, "")+".log"), append(append(out.Bytes(), "\n---- agent\n"...), lg...), 0o644)
	}
	if log, err := os.ReadFile(d.LogFile("nd-agent")); err == nil {
		if m := benchTookRE.FindSubmatch(log); m != nil {
			stages = append(stages, "substituting "+durString(string(m[1])))
		}
	}
	if m := benchSentRE.FindStringSubmatch(out.String()); m != nil {
		stages = append(stages, "sending "+m[1]+"s")
	}
	r.stages = strings.Join(stages, ", ")
	return r, nil
}

// benchCopyClosure copies pkg's closure with nix-copy-closure, whose remote
// nix-store --serve substitutes from the droplet's nix.conf.
func benchCopyClosure(cache *benchCache, d *fleet.Droplet, pkg string) (benchRun, error) {
	ssh0, cache0 := sshBytes(nil, d), cache.served(d)
	exec.Command("sync").Run()
	start := time.Now()
	cmd := exec.Command("nix-copy-closure", "--use-substitutes", "--to", "root@"+d.Name, pkg)
	cmd.Env = append(os.Environ(), "NIX_SSHOPTS=-F "+d.SSHConfig(), "SSH_AUTH_SOCK=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return benchRun{}, fmt.Errorf("nix-copy-closure: %v\n%s", err, out)
	}
	return benchRun{wall: time.Since(start), sshBytes: sshBytes(nil, d) - ssh0, cacheBytes: cache.served(d) - cache0}, nil
}

// sshBytes is what the shaper's SSH class on d's link has sent so far.
func sshBytes(tb testing.TB, d *fleet.Droplet) int64 {
	dev := hostIf(d.HostAddr)
	out, err := exec.Command("tc", "-s", "class", "show", "dev", dev, "classid", "1:10").Output()
	if err != nil && tb != nil {
		tb.Fatalf("tc -s class show dev %s: %v", dev, err)
	}
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "Sent" && i+1 < len(f) {
			n, _ := strconv.ParseInt(f[i+1], 10, 64)
			return n
		}
	}
	return 0
}

// hostIf is the name of this machine's interface holding addr.
func hostIf(addr string) string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		as, _ := i.Addrs()
		for _, a := range as {
			if ip, _, _ := net.ParseCIDR(a.String()); ip != nil && ip.String() == addr {
				return i.Name
			}
		}
	}
	return ""
}

// benchCache is a signed binary cache of a closure, served over HTTP on
// every address of this machine (each droplet reaches it at its own
// HostAddr, unshaped), counting what it serves to whom.
type benchCache struct {
	url     func(d *fleet.Droplet) string
	pubKey  string
	fill    time.Duration
	closure struct{ paths, narBytes, fileBytes int64 }

	mu   sync.Mutex
	sent map[string]int64 // by client address
}

func newBenchCache(b *testing.B, top string) *benchCache {
	dir := b.TempDir()
	store, sk, pk := filepath.Join(dir, "cache"), filepath.Join(dir, "sk"), filepath.Join(dir, "pk")
	if out, err := exec.Command("nix-store", "--generate-binary-cache-key", "nd-bench", sk, pk).CombinedOutput(); err != nil {
		b.Fatalf("cache key: %v\n%s", err, out)
	}
	c := &benchCache{sent: map[string]int64{}}
	start := time.Now()
	// zstd, not nix copy's default xz: the droplet decompresses it about
	// 10x faster (60 MB of this closure's NAR: 0.11s against 1.1s, for 27%
	// more bytes on the cache's fast link), and cache.nixos.org serves zstd
	// too (Nix 2.8 reads and writes it through libarchive).
	if out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "copy",
		"--to", "file://"+store+"?secret-key="+sk+"&compression=zstd", top).CombinedOutput(); err != nil {
		b.Fatalf("filling the cache: %v\n%s", err, out)
	}
	c.fill = time.Since(start)
	data, _ := os.ReadFile(pk)
	c.pubKey = strings.TrimSpace(string(data))
	infos, _ := filepath.Glob(filepath.Join(store, "*.narinfo"))
	for _, f := range infos {
		data, _ := os.ReadFile(f)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "NarSize":
				c.closure.narBytes += n
			case "FileSize":
				c.closure.fileBytes += n
			}
		}
		c.closure.paths++
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	files := http.FileServer(http.Dir(store))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingResponse{ResponseWriter: w}
		files.ServeHTTP(cw, r)
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		c.mu.Lock()
		c.sent[host] += cw.n
		c.mu.Unlock()
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	c.url = func(d *fleet.Droplet) string { return fmt.Sprintf("http://%s:%d", d.HostAddr, port) }
	return c
}

// configure names the cache in d's own nix.conf (later lines win), as a
// user configures a droplet; the agent and nix-copy-closure's remote
// nix-store both read it.
func (c *benchCache) configure(b *testing.B, d *fleet.Droplet) {
	conf := d.Path("/etc/nix/nix.conf")
	old, _ := os.ReadFile(conf)
	add := fmt.Sprintf("\nsubstituters = %s\ntrusted-public-keys = %s\n", c.url(d), c.pubKey)
	if err := os.WriteFile(conf, append(old, add...), 0o644); err != nil {
		b.Fatalf("configuring the cache on %s: %v", d.Name, err)
	}
}

func (c *benchCache) served(d *fleet.Droplet) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[d.Addr]
}

type countingResponse struct {
	http.ResponseWriter
	n int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func medianRun(rs []benchRun) benchRun {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b benchRun) int { return int(a.wall - b.wall) })
	return s[len(s)/2]
}

func bestRun(rs []benchRun) benchRun {
	return slices.MinFunc(rs, func(a, b benchRun) int { return int(a.wall - b.wall) })
}

func runsString(rs []benchRun) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.1f", r.wall.Seconds()))
	}
	return strings.Join(s, " ")
}

func durString(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

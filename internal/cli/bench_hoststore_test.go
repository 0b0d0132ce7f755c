package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkHostStore prints issue 4's figures side by side with their
// baselines, in one run, over a 200 Mbit/s link to fresh droplets with Nix,
// for a ~500 MB / 200-path closure of real files (compiler, libraries):
//
//   - cold deploy: `nd-push HOST CONFIG` (connect, copy, image, container up)
//     vs `nix-copy-closure --to` of the same package (copy only);
//   - no-op redeploy vs `ssh HOST true`;
//   - an update that changes one small path: bytes on the wire vs that
//     path's NAR size, and time vs nix-copy-closure of the update.
//
// It is a figure printer, not a timed test:
//
//	go test -run XXX -bench BenchmarkHostStore -benchtime 1x -timeout 30m ./internal/cli
func BenchmarkHostStore(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireCommands(b, "nix-build", "nix-store", "nix-copy-closure", "dockerd", "sshd", "ssh")
	ctx := context.Background()
	bins := testutil.BuildBinaries(b, "nd-push", "nd-agent", "nd-init")

	top := nixtest.BenchClosure(b, 200, 500<<20)
	dir := b.TempDir()
	cfgs, pkgs := map[string]string{}, map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		cfgs[v] = filepath.Join(dir, v, "config.nix")
		os.MkdirAll(filepath.Dir(cfgs[v]), 0o755)
		os.WriteFile(cfgs[v], []byte(benchAppConfig(top, v)), 0o644)
		out, err := exec.Command(bins["nd-push"], "build", cfgs[v]).Output()
		if err != nil {
			b.Fatalf("building %s: %v", v, err)
		}
		pkgs[v] = strings.TrimSpace(string(out))
	}
	closureOf := func(p string) []string {
		out, err := exec.Command("nix-store", "-qR", p).Output()
		if err != nil {
			b.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	c1 := map[string]bool{}
	for _, p := range closureOf(pkgs["v1"]) {
		c1[p] = true
	}
	var changed []string
	var changedNar int64
	for _, p := range closureOf(pkgs["v2"]) {
		if !c1[p] {
			changed = append(changed, p)
			out, _ := exec.Command("nix-store", "-q", "--size", p).Output()
			n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
			changedNar += n
		}
	}
	var closureNar int64
	for p := range c1 {
		out, _ := exec.Command("nix-store", "-q", "--size", p).Output()
		n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		closureNar += n
	}

	ds := fleet.ForTest(b, 3, fleet.Options{Nix: true, Rate: "200mbit"})
	nd, ncc, old := ds[0], ds[1], ds[2]
	agentBin := "/usr/local/bin/nd-agent" // droplet-private (overlay)
	for _, d := range []*fleet.Droplet{nd, old} {
		if err := d.CopyIn(bins["nd-agent"], agentBin); err != nil {
			b.Fatal(err)
		}
		argv := []string{agentBin, "serve"}
		if d == old {
			// The same agent restoring, as it does where memory is short
			// (a small droplet); with plenty of it, it uses nix-store --import.
			argv = append([]string{"env", agent.ImporterEnv + "=restore"}, argv...)
		}
		if err := d.Start(ctx, "nd-agent", argv...); err != nil {
			b.Fatal(err)
		}
		for i := 0; ; i++ {
			if _, err := d.Exec(ctx, "test", "-S", "/run/nd-agent/agent.sock"); err == nil {
				break
			}
			if i > 200 {
				b.Fatal("nd-agent did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	time.Sleep(time.Second)
	agentPID, _ := nd.PID("nd-agent")
	idleRSS := procStatus(agentPID, "VmRSS")

	sentRE := regexp.MustCompile(`(\d+) paths / ([0-9.]+ [KMG]?i?B) sent`)
	var last stageRun
	pushTo := func(nd *fleet.Droplet, cfg string) (time.Duration, string) {
		exec.Command("sync").Run()
		off, cpu0 := startStages(nd)
		start := time.Now()
		cmd := exec.Command(bins["nd-push"], "-v", "-F", nd.SSHConfig(), nd.Name, cfg)
		cmd.Env = append(os.Environ(), "ND_INIT="+bins["nd-init"])
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("nd-push: %v\n%s", err, out.String())
		}
		d := time.Since(start)
		m := sentRE.FindStringSubmatch(out.String())
		if m == nil {
			b.Fatalf("nd-push said %q", out.String())
		}
		last = stageRun{start: start, end: start.Add(d), wire: parseHumanBytes(m[2]), laptop: parseLaptopStages(out.String()),
			laptopCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
		endStages(b, nd, &last, off, cpu0)
		return d, m[1] + " paths, " + m[2]
	}
	push := func(cfg string) (time.Duration, string) { return pushTo(nd, cfg) }
	ncopy := func(p string) time.Duration {
		exec.Command("sync").Run()
		start := time.Now()
		cmd := exec.Command("nix-copy-closure", "--to", "root@"+ncc.Name, p)
		cmd.Env = append(os.Environ(), "NIX_SSHOPTS=-F "+ncc.SSHConfig(), "SSH_AUTH_SOCK=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("nix-copy-closure: %v: %s", err, out)
		}
		return time.Since(start)
	}
	median := func(n int, f func() time.Duration) time.Duration {
		var ds []time.Duration
		for range n {
			ds = append(ds, f())
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[n/2]
	}

	// Warm the laptop's page cache with the closure, so that the first
	// cold deploy does not pay for reading it from disk and the ones after
	// it do not (the three cold deploys read the same paths).
	warm := exec.Command("nix-store", append([]string{"--export"}, closureOf(pkgs["v1"])...)...)
	if err := warm.Run(); err != nil {
		b.Fatalf("warming the page cache: %v", err)
	}
	coldND, coldSent := push(cfgs["v1"])
	coldStages := last
	coldOld, _ := pushTo(old, cfgs["v1"])
	coldOldStages := last
	coldNCC := ncopy(pkgs["v1"])
	noopND := median(5, func() time.Duration { d, _ := push(cfgs["v1"]); return d })
	_, noopSent := push(cfgs["v1"])
	sshTrue := median(5, func() time.Duration {
		start := time.Now()
		if out, err := exec.Command("ssh", "-F", nd.SSHConfig(), nd.Name, "true").CombinedOutput(); err != nil {
			b.Fatalf("ssh true: %v: %s", err, out)
		}
		return time.Since(start)
	})
	updND, updSent := push(cfgs["v2"])
	updStages := last
	updNCC := ncopy(pkgs["v2"])

	b.StopTimer()
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "closure: %d paths, %.0f MB (NAR); link 200 Mbit/s; update changes %d path(s), %d B NAR\n",
		len(c1), float64(closureNar)/1e6, len(changed), changedNar)
	fmt.Fprintln(tw, "scenario\tnd-push\tsent by nd\tbaseline\tbaseline time\tratio\ttarget")
	fmt.Fprintf(tw, "cold deploy\t%.2fs\t%s\tnix-copy-closure --to\t%.2fs\t%.2f\t<= 0.35\n", coldND.Seconds(), coldSent, coldNCC.Seconds(), coldND.Seconds()/coldNCC.Seconds())
	fmt.Fprintf(tw, "cold deploy\t%.2fs\t%s\tthe agent restoring (bounded memory: small droplets)\t%.2fs\t%.2f\t\n", coldND.Seconds(), coldSent, coldOld.Seconds(), coldND.Seconds()/coldOld.Seconds())
	limit := float64(coldStages.wire) / linkBytesPerSec
	fmt.Fprintf(tw, "cold deploy vs the link\t%.2fs\t%s\tnd's bytes / 25 MB/s\t%.2fs\t%.2f\t<= 1.3\n", coldND.Seconds(), coldSent, limit, coldND.Seconds()/limit)
	fmt.Fprintf(tw, "no-op redeploy (median of 5)\t%.3fs\t%s\tssh HOST true (median of 5)\t%.3fs\t%.2f\t<= 2\n", noopND.Seconds(), noopSent, sshTrue.Seconds(), noopND.Seconds()/sshTrue.Seconds())
	fmt.Fprintf(tw, "update (one small path)\t%.2fs\t%s\tnix-copy-closure --to\t%.2fs\t%.2f\tsent ~ path size; nd-push <= 1.0 s\n", updND.Seconds(), updSent, updNCC.Seconds(), updND.Seconds()/updNCC.Seconds())
	fmt.Fprintf(tw, "agent idle RSS (1 s after start)\t%.1f MiB\t\t\t\t\t<= 25 MiB\n", float64(idleRSS)/(1<<20))
	tw.Flush()
	buf.WriteString(stageTable("host-store cold deploy", coldStages, linkBytesPerSec))
	buf.WriteString(stageTable("host-store update", updStages, linkBytesPerSec))
	buf.WriteString(stageTable("host-store cold deploy, the agent restoring (bounded memory, as on small droplets)", coldOldStages, linkBytesPerSec))
	b.Logf("\n%s", buf.String())
	fmt.Print(buf.String())
}

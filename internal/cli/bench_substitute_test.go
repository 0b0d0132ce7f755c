package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkSubstitute prints issue 12's substitution figures in one run: a
// cold deploy of a ~500 MB / 200-path closure whose bulk (all but the app's
// own paths) sits in a signed binary cache on the droplets' link, with SSH
// shaped to 200 Mbit/s and the cache's traffic not, by
//
//   - nd-push (the droplet substitutes first),
//   - nd-push --no-substitute (today's behaviour: everything over SSH),
//   - nix copy --substitute-on-destination, the nix-command form of
//     nix-copy-closure --use-substitutes (which cannot point the remote
//     Nix at a cache without changing the machine's nix.conf).
//
// A figure printer, not a timed test:
//
//	go test -run XXX -bench BenchmarkSubstitute -benchtime 1x -timeout 30m ./internal/cli
func BenchmarkSubstitute(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireCommands(b, "nix-build", "nix-store", "nix", "dockerd", "sshd", "ssh", "tc")
	ctx := context.Background()
	bins := testutil.BuildBinaries(b, "nd-push", "nd-agent", "nd-init")

	top := nixtest.BenchClosure(b, 200, 500<<20)
	cfg := filepath.Join(b.TempDir(), "subst", "config.nix")
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte(benchAppConfig(top, "v1")), 0o644)
	out, err := exec.Command(bins["nd-push"], "build", cfg).Output()
	if err != nil {
		b.Fatalf("building: %v", err)
	}
	pkg := strings.TrimSpace(string(out))

	// The cache, served on every address of this machine (each droplet
	// reaches it at its own HostAddr), holds top's closure.
	dir := b.TempDir()
	cache, sk, pk := filepath.Join(dir, "cache"), filepath.Join(dir, "sk"), filepath.Join(dir, "pk")
	if out, err := exec.Command("nix-store", "--generate-binary-cache-key", "nd-bench", sk, pk).CombinedOutput(); err != nil {
		b.Fatalf("cache key: %v\n%s", err, out)
	}
	start := time.Now()
	if out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "copy",
		"--to", "file://"+cache+"?secret-key="+sk+"&compression=zstd", top).CombinedOutput(); err != nil {
		b.Fatalf("filling the cache: %v\n%s", err, out)
	}
	fill := time.Since(start)
	pub, _ := os.ReadFile(pk)
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(cache))}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// Two rounds on fresh droplets, in opposite orders, and the faster of
	// each: the machine is shared, so one run alone says little.
	const rounds = 2
	ds := fleet.ForTest(b, 3*rounds, fleet.Options{Nix: true})
	nixConf := func(d *fleet.Droplet) string {
		return fmt.Sprintf("substituters = http://%s:%d\ntrusted-public-keys = %s", d.HostAddr, port, strings.TrimSpace(string(pub)))
	}
	agentBin := "/var/lib/nd-bench/nd-agent"
	for i, d := range ds {
		if err := d.ShapeSSH(ctx, "200mbit"); err != nil {
			b.Fatal(err)
		}
		if i%3 == 2 {
			continue // nix copy's droplet runs no agent
		}
		copyFileTB(b, bins["nd-agent"], d.Path(agentBin))
		if err := d.Start(ctx, "nd-agent", "env", "NIX_CONFIG="+nixConf(d), agentBin, "serve"); err != nil {
			b.Fatal(err)
		}
		(&deployEnv{d: d}).waitAgent(b)
	}
	sentRE := regexp.MustCompile(`(\d+) paths / ([0-9.]+ [KMG]?i?B) sent(, (\d+) paths from the host's substituters)?`)
	push := func(d *fleet.Droplet, extra ...string) (time.Duration, string) {
		exec.Command("sync").Run()
		start := time.Now()
		cmd := exec.Command(bins["nd-push"], append(append([]string{"-F", d.SSHConfig()}, extra...), d.Name, cfg)...)
		cmd.Env = append(os.Environ(), "ND_INIT="+bins["nd-init"])
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("nd-push: %v\n%s", err, out.String())
		}
		el := time.Since(start)
		m := sentRE.FindStringSubmatch(out.String())
		if m == nil {
			b.Fatalf("nd-push said %q", out.String())
		}
		what := m[1] + " paths / " + m[2] + " over SSH"
		if m[4] != "" {
			what += ", " + m[4] + " paths from the cache"
		}
		return el, what
	}
	// nix copy's remote Nix gets the cache through a wrapper, as the
	// agent gets it through its environment.
	nixCopy := func(d *fleet.Droplet) (time.Duration, string) {
		wrapper := "/var/lib/nd-bench/nix-store"
		os.MkdirAll(filepath.Dir(d.Path(wrapper)), 0o755)
		os.WriteFile(d.Path(wrapper), []byte("#!/bin/sh\nexport NIX_CONFIG='"+nixConf(d)+"'\nexec nix-store \"$@\"\n"), 0o755)
		exec.Command("sync").Run()
		start := time.Now()
		cmd := exec.Command("nix", "--extra-experimental-features", "nix-command", "copy", "--substitute-on-destination",
			"--to", "ssh://root@"+d.Name+"?remote-program="+wrapper, pkg)
		cmd.Env = append(os.Environ(), "NIX_SSHOPTS=-F "+d.SSHConfig(), "SSH_AUTH_SOCK=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("nix copy --substitute-on-destination: %v\n%s", err, out)
		}
		return time.Since(start), "copy only"
	}
	type variant struct {
		name string
		run  func(d *fleet.Droplet) (time.Duration, string)
		best time.Duration
		all  []string
		what string
	}
	vs := []*variant{
		{name: "nd-push (substitutes on the droplet)", run: func(d *fleet.Droplet) (time.Duration, string) { return push(d) }},
		{name: "nd-push --no-substitute (baseline: before)", run: func(d *fleet.Droplet) (time.Duration, string) { return push(d, "--no-substitute") }},
		{name: "nix copy --substitute-on-destination", run: nixCopy},
	}
	for r := range rounds {
		for k := range vs {
			i := k
			if r%2 == 1 {
				i = len(vs) - 1 - k
			}
			v := vs[i]
			el, what := v.run(ds[3*r+i])
			if v.best == 0 || el < v.best {
				v.best, v.what = el, what
			}
			v.all = append(v.all, fmt.Sprintf("%.1f", el.Seconds()))
		}
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\ncold deploy, SSH at 200 Mbit/s, cache unshaped (filled in %.1fs)\tbest s\truns s\twhat moved\n", fill.Seconds())
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\n", v.name, v.best.Seconds(), strings.Join(v.all, " "), v.what)
	}
	fmt.Fprintf(tw, "speed-up over --no-substitute\t%.1fx\t\t\n", vs[1].best.Seconds()/vs[0].best.Seconds())
	tw.Flush()
}

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkAgentAPI prints what nd-push's small requests cost on the HTTP
// API beside their baseline, the framed protocol of commit 181019c (its
// nd-push and nd-agent, built from the repository's history), on one
// droplet with Nix, as the median wall time of the binaries over 10 runs:
//
//   - `nd-push status HOST` (connect, version check, the apps);
//   - a no-op redeploy of the package the host runs (connect, version
//     check, missing paths, deploy);
//   - `nd-push exec HOST APP -- busybox true`.
//
// It is a figure printer, not a timed test:
//
//	go test -run XXX -bench BenchmarkAgentAPI -benchtime 1x ./internal/cli
func BenchmarkAgentAPI(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireCommands(b, "git", "nix-build", "nix-store", "dockerd", "sshd")
	ctx := context.Background()
	bins := testutil.BuildBinaries(b, "nd-push", "nd-agent", "nd-init")
	b.Setenv("ND_INIT", bins["nd-init"])
	root, err := testutil.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	old := testutil.BuildAtCommit(b, framedAgentCommit, "nd-push", "nd-agent")
	out, err := exec.Command(bins["nd-push"], "build", filepath.Join(root, "examples", "hello", "config.nix")).Output()
	if err != nil {
		b.Fatalf("building examples/hello: %v", err)
	}
	pkg := strings.TrimSpace(string(out))
	req, err := exec.Command("nix-store", "-qR", pkg).Output()
	if err != nil {
		b.Fatal(err)
	}
	var busybox string
	for _, p := range strings.Fields(string(req)) {
		if _, err := os.Stat(filepath.Join(p, "bin", "busybox")); err == nil {
			busybox = filepath.Join(p, "bin", "busybox")
		}
	}
	if busybox == "" {
		b.Fatalf("no busybox in the closure of %s", pkg)
	}
	d := fleet.ForTest(b, 1, fleet.Options{Nix: true})[0]

	type version struct{ name, push, agent string }
	versions := []version{{"framed (181019c)", old["nd-push"], old["nd-agent"]}, {"HTTP", bins["nd-push"], bins["nd-agent"]}}
	ops := []string{"status", "no-op deploy", "exec true"}
	medians := map[string]map[string]time.Duration{}
	for i, v := range versions {
		agentBin := fmt.Sprintf("/var/lib/nd-test/nd-agent-%d", i)
		copyFile(b, v.agent, d.Path(agentBin), 0o755)
		name := fmt.Sprintf("nd-agent-%d", i)
		if err := d.Start(ctx, name, agentBin, "serve"); err != nil {
			b.Fatal(err)
		}
		waitSocket(b, d)
		args := map[string][]string{
			"status":       {"status", "-F", d.SSHConfig(), "--agent-path", agentBin, d.Name},
			"no-op deploy": {"-F", d.SSHConfig(), "--agent-path", agentBin, d.Name, pkg},
			"exec true":    {"exec", "-F", d.SSHConfig(), "--agent-path", agentBin, d.Name, "hello", "--", busybox, "true"},
		}
		run := func(op string) time.Duration {
			start := time.Now()
			if out, err := exec.Command(v.push, args[op]...).CombinedOutput(); err != nil {
				b.Fatalf("%s: nd-push %s: %v\n%s", v.name, strings.Join(args[op], " "), err, out)
			}
			return time.Since(start)
		}
		run("no-op deploy") // the first deploys, the others find it running
		medians[v.name] = map[string]time.Duration{}
		for _, op := range ops {
			var ts []time.Duration
			for range 10 {
				ts = append(ts, run(op))
			}
			sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
			medians[v.name][op] = ts[len(ts)/2]
		}
		if err := d.Stop(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "median of 10\tframed (181019c)\tHTTP\tHTTP/framed")
	for _, op := range ops {
		f, h := medians[versions[0].name][op], medians[versions[1].name][op]
		fmt.Fprintf(tw, "%s\t%v\t%v\t%.2f\n", op, f.Round(time.Millisecond), h.Round(time.Millisecond), float64(h)/float64(f))
	}
	tw.Flush()
}

// waitSocket waits for the agent's socket in d.
func waitSocket(t testing.TB, d *fleet.Droplet) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.Exec(context.Background(), "test", "-S", "/run/nd-agent/agent.sock"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nd-agent did not create its socket in %s", d.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

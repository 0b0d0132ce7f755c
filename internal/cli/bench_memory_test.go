package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/sshconn"
	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkMemory prints what a push of a closure holding one 1 GiB path
// costs in memory on a droplet whose agent and every process it starts run
// in a 256 MiB memory cgroup (a small droplet), next to Nix 2.8's own
// `nix-store --export | nix-store --import` into the same limit:
//
//	go test -run XXX -bench BenchmarkMemory -benchtime 1x -timeout 30m ./internal/cli
//	scripts/bench.sh memory
func BenchmarkMemory(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireCommands(b, "nix-build", "nix-store", "sshd")
	ctx := context.Background()
	const limit = 256 << 20
	bins := testutil.BuildBinaries(b, "nd-agent")
	pkg := nixtest.BuildBig(b, "bench", 1024)
	ds := fleet.ForTest(b, 2, fleet.Options{Nix: true, NoDocker: true})
	nd, base := ds[0], ds[1]

	cg, err := fleet.NewMemoryCgroup(nd.Name+"-agent", limit)
	if err != nil {
		b.Fatal(err)
	}
	defer cg.Remove()
	agentBin := "/usr/local/bin/nd-agent"
	copyFileTB(b, bins["nd-agent"], nd.Path(agentBin))
	if err := nd.Start(ctx, "nd-agent", cg.Wrap(agentBin, "serve")...); err != nil {
		b.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(nd.Path("/run/nd-agent/agent.sock")); err == nil {
			break
		}
		if i > 200 {
			b.Fatal("nd-agent did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	agentPID, _ := nd.PID("nd-agent")
	idleRSS := procStatus(agentPID, "VmRSS")

	os.Setenv("SSH_AUTH_SOCK", "")
	c, err := sshconn.Dial(ctx, nd.Name, sshconn.Options{ConfigFile: nd.SSHConfig(), HomeDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl := agentclient.New(agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		return c.DialUnix(ctx, "/run/nd-agent/agent.sock")
	}), agentclient.Options{Host: nd.Name})
	start := time.Now()
	_, perr := closure.Push(ctx, cl, pkg, closure.Options{})
	ndTime := time.Since(start)
	ndPeak, _ := cg.Peak()
	ndHWM := procStatus(agentPID, "VmHWM")
	ndResult := "imported, verifies"
	if perr != nil {
		ndResult = "failed: " + perr.Error()
	} else if out, err := nd.Exec(ctx, "nix-store", "--verify-path", pkg); err != nil {
		ndResult = fmt.Sprintf("imported but does not verify: %v %s", err, out)
	}

	// The baseline: Nix's importer in the same limit.
	bcg, err := fleet.NewMemoryCgroup(base.Name+"-import", limit)
	if err != nil {
		b.Fatal(err)
	}
	defer bcg.Remove()
	exp := exec.Command("nix-store", "--export", pkg)
	imp := base.Command(ctx, bcg.Wrap("nix-store", "--import")...)
	pipe, err := exp.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	imp.Stdin = pipe
	var impOut strings.Builder
	imp.Stdout, imp.Stderr = &impOut, &impOut
	start = time.Now()
	exp.Start()
	ierr := imp.Run()
	exp.Process.Kill()
	exp.Wait()
	baseTime := time.Since(start)
	basePeak, _ := bcg.Peak()
	baseResult := "imported"
	if ierr != nil {
		baseResult = fmt.Sprintf("failed (%v; OOM kills %d)", ierr, bcg.OOMKills())
	}

	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintf(&sb, "\nmemory: a closure of one 1 GiB path (%s) into a droplet whose importer runs in a %d MiB memory cgroup\n", pkg, limit>>20)
	fmt.Fprintln(tw, "importer\tresult\ttime\tcgroup peak (RSS + page cache)\tagent peak RSS (VmHWM)\ttarget")
	fmt.Fprintf(tw, "nd-agent (restore + nix-store --load-db)\t%s\t%.1f s\t%.0f MiB\t%.0f MiB\timported within %d MiB\n", ndResult, ndTime.Seconds(), float64(ndPeak)/(1<<20), float64(ndHWM)/(1<<20), limit>>20)
	fmt.Fprintf(tw, "nix-store --export | nix-store --import (Nix 2.8)\t%s\t%.1f s\t%.0f MiB\t\t\n", baseResult, baseTime.Seconds(), float64(basePeak)/(1<<20))
	fmt.Fprintf(tw, "agent idle RSS (1 s after start)\t%.1f MiB\t\t\t\t<= 25 MiB\n", float64(idleRSS)/(1<<20))
	tw.Flush()
	fmt.Print(sb.String())
	b.Log(sb.String())
}

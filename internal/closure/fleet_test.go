package closure_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
	"github.com/nd-project/nd/internal/sshconn"
	"github.com/nd-project/nd/internal/testutil"
)

// startAgent installs the nd-agent binary in droplet d and runs `nd-agent
// serve` there, like the install step will.
func startAgent(t testing.TB, ctx context.Context, d *fleet.Droplet) {
	t.Helper()
	startAgentArgv(t, ctx, d, "/usr/local/bin/nd-agent", "serve", "--log-level", "debug")
}

// startAgentArgv is startAgent with the agent's command line.
func startAgentArgv(t testing.TB, ctx context.Context, d *fleet.Droplet, argv ...string) {
	t.Helper()
	bin := testutil.BuildBinaries(t, "nd-agent")["nd-agent"]
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path("/usr/local/bin/nd-agent"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, "nd-agent", argv...); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(d.Path(agent.DefaultSocket)); err == nil {
			return
		}
		if i > 100 {
			log, _ := os.ReadFile(d.LogFile("nd-agent"))
			t.Fatalf("nd-agent did not start in droplet %s: %s", d.Name, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialSSH(t testing.TB, ctx context.Context, d *fleet.Droplet) *sshconn.Client {
	t.Helper()
	t.Setenv("SSH_AUTH_SOCK", "")
	c, err := sshconn.Dial(ctx, d.Name, sshconn.Options{ConfigFile: d.SSHConfig(), HomeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// streamLocal dials the agent's socket through direct-streamlocal.
func streamLocal(c *sshconn.Client) agentclient.Dialer {
	return agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		return c.DialUnix(ctx, agent.DefaultSocket)
	})
}

// dialStdio runs `nd-agent dial-stdio` on an exec channel per stream.
func dialStdio(c *sshconn.Client) agentclient.Dialer {
	return agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		return c.Command(ctx, "/usr/local/bin/nd-agent dial-stdio")
	})
}

func dropletValid(t *testing.T, ctx context.Context, d *fleet.Droplet, paths []string) int {
	t.Helper()
	out, err := d.Exec(ctx, append([]string{"nix-store", "--check-validity", "--print-invalid"}, paths...)...)
	if err != nil {
		t.Fatal(err)
	}
	return len(paths) - len(strings.Fields(string(out)))
}

func TestFleetPush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pkg := nt.BuildClosure(t, "fleetpush", 4)
	paths, err := (&nixstore.Store{}).Requisites(ctx, pkg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   fleet.Options
		dialer func(*sshconn.Client) agentclient.Dialer
	}{
		{"streamlocal", fleet.Options{Nix: true, NoDocker: true}, streamLocal},
		{"dial-stdio", fleet.Options{Nix: true, NoDocker: true, NoStreamLocalForwarding: true}, dialStdio},
		{"no-nix", fleet.Options{NoDocker: true}, streamLocal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fleet.ForTest(t, 1, tc.opts)[0]
			startAgent(t, ctx, d)
			c := dialSSH(t, ctx, d)
			if !tc.opts.Nix {
				cl := agentclient.New(tc.dialer(c), agentclient.Options{Host: d.Name})
				w, err := cl.Info(ctx)
				if err != nil || w.Capabilities.Nix || w.Capabilities.NixError == "" {
					t.Fatalf("Hello on a host without Nix: %+v, %v", w.Capabilities, err)
				}
				_, err = closure.Push(ctx, cl, pkg, closure.Options{})
				if !agentclient.IsCode(err, proto.CodeNoNix) {
					t.Fatalf("push to a host without Nix: %v, want code %s", err, proto.CodeNoNix)
				}
				t.Logf("push to a host without Nix: %v", err)
				return
			}
			if tc.opts.NoStreamLocalForwarding {
				if _, err := c.DialUnix(ctx, agent.DefaultSocket); !sshconn.IsForwardingRefused(err) {
					t.Fatalf("DialUnix with forwarding off = %v, want refused", err)
				}
			}
			cl := agentclient.New(tc.dialer(c), agentclient.Options{Host: d.Name, NDVersion: "test"})
			w, err := cl.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !w.Capabilities.Nix || w.Capabilities.Docker {
				t.Errorf("capabilities %+v, want Nix, no Docker", w.Capabilities)
			}
			res, err := closure.Push(ctx, cl, pkg, closure.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stats.Missing != len(paths) || len(res.Imported) != len(paths) {
				t.Fatalf("push: %+v", res.Stats)
			}
			if out, err := d.Exec(ctx, "nix-store", "--verify", "--check-contents"); err != nil || strings.Contains(string(out), "error") {
				t.Fatalf("verify in droplet: %v %s", err, out)
			}
			if _, err := d.Exec(ctx, "nix-collect-garbage"); err != nil {
				t.Fatal(err)
			}
			if n := dropletValid(t, ctx, d, paths); n != len(paths) {
				t.Fatalf("after GC in droplet %d of %d paths valid", n, len(paths))
			}
			res, err = closure.Push(ctx, cl, pkg, closure.Options{})
			if err != nil || res.Stats.Missing != 0 {
				t.Fatalf("second push: %+v %v", res.Stats, err)
			}
			// Without dockerd the deploy fails clearly, and records nothing.
			if _, err := cl.Deploy(ctx, proto.Deploy{App: "fleetpush", Package: pkg}, nil); !agentclient.IsCode(err, proto.CodeNoDocker) || !strings.Contains(err.Error(), "cannot reach Docker on ") {
				t.Errorf("deploy without dockerd: %v", err)
			}
			// Status cannot say what runs without dockerd: an error, not "no apps".
			if st, err := cl.Status(ctx, ""); !agentclient.IsCode(err, proto.CodeNoDocker) {
				t.Errorf("status without dockerd: %+v, %v; want a no-docker error", st, err)
			}
		})
	}
}

// BenchmarkFleet compares this transfer with nix-copy-closure for the
// same ~500 MB, 200-path closure to two fresh droplets over 200 Mbit/s:
//
//	go test -run XXX -bench BenchmarkFleet -benchtime 1x -timeout 30m ./internal/closure
func BenchmarkFleet(b *testing.B) {
	t := b
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	top := nt.BenchClosure(t, 200, 500<<20)
	levels := []struct {
		name  string
		level zstd.EncoderLevel
		conc  int
	}{
		{"better", zstd.SpeedBetterCompression, 2},
		{"fastest", zstd.SpeedFastest, 2},
		{"default (nd's choice)", zstd.SpeedDefault, 2},
		{"better", zstd.SpeedBetterCompression, 2},
		{"fastest", zstd.SpeedFastest, 2},
		{"default (nd's choice)", zstd.SpeedDefault, 2},
	}
	// A fresh droplet for each run: one per level, and one for
	// nix-copy-closure. Each level runs twice: on this shared machine the
	// figures vary with other load (the laptop side, the droplet's import
	// and the link all share its cores); compare the minima.
	ds := fleet.ForTest(t, len(levels)+1, fleet.Options{Nix: true, NoDocker: true, Rate: "200mbit"})
	ncc := ds[len(levels)]
	var nd *fleet.Droplet
	var cl *agentclient.Client
	for i, l := range levels {
		nd = ds[i]
		startAgent(t, ctx, nd)
		exec.Command("sync").Run() // earlier runs' writeback must not slow this one
		start := time.Now()
		c := dialSSH(t, ctx, nd)
		cl = agentclient.New(streamLocal(c), agentclient.Options{Host: nd.Name})
		res, err := closure.Push(ctx, cl, top, closure.Options{Level: l.level, Concurrency: l.conc})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("nd cold, zstd %-22s %v (ssh connect included; %d paths, %d MB export, %d MB on the wire)", l.name+":",
			time.Since(start).Round(10*time.Millisecond), res.Stats.Missing, res.Stats.Bytes>>20, res.Stats.WireBytes>>20)
	}
	start := time.Now()
	c2 := dialSSH(t, ctx, nd)
	res, err := closure.Push(ctx, agentclient.New(streamLocal(c2), agentclient.Options{Host: nd.Name}), top, closure.Options{})
	if err != nil || res.Stats.Missing != 0 {
		t.Fatal(err, res.Stats)
	}
	t.Logf("nd no-op (ssh connect included): %v", time.Since(start).Round(10*time.Millisecond))

	exec.Command("sync").Run()
	for _, run := range []string{"cold", "no-op"} {
		start = time.Now()
		cmd := exec.CommandContext(ctx, "nix-copy-closure", "--to", "root@"+ncc.Name, top)
		cmd.Env = append(os.Environ(), "NIX_SSHOPTS=-F "+ncc.SSHConfig(), "SSH_AUTH_SOCK=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nix-copy-closure: %v: %s", err, out)
		}
		t.Logf("nix-copy-closure %s: %v", run, time.Since(start).Round(10*time.Millisecond))
	}
}

// TestFleetDeploy pushes and deploys to a droplet with Nix and dockerd,
// through the real nd-agent binary (internal/dockerrt behind it).
func TestFleetDeploy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pkg := nt.BuildClosure(t, "fleetdeploy", 2)
	d := fleet.ForTest(t, 1, fleet.Options{Nix: true})[0]
	startAgent(t, ctx, d)
	c := dialSSH(t, ctx, d)
	cl := agentclient.New(streamLocal(c), agentclient.Options{Host: d.Name, NDVersion: "test"})
	w, err := cl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Capabilities.Nix || !w.Capabilities.Docker {
		t.Fatalf("capabilities %+v, want Nix and Docker", w.Capabilities)
	}
	res, err := closure.Push(ctx, cl, pkg, closure.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	dep, err := cl.Deploy(ctx, proto.Deploy{App: "fleetdeploy", Package: pkg, PushedBy: "test", Session: res.Session},
		func(p proto.Progress) { stages = append(stages, p.Stage+": "+p.Message) })
	if err != nil {
		log, _ := os.ReadFile(d.LogFile("nd-agent"))
		t.Fatalf("deploy: %v\nagent log:\n%s", err, log)
	}
	t.Logf("deployed %+v after %q", dep, stages)
	if dep.Generation != 1 || !dep.Changed || dep.ContainerID == "" {
		t.Errorf("Deploy = %+v", dep)
	}
	out, err := d.Exec(ctx, "docker", "inspect", "-f", "{{.State.Running}} {{index .Config.Labels \"nd.generation\"}}", "nd-fleetdeploy")
	if err != nil || strings.TrimSpace(string(out)) != "true 1" {
		t.Errorf("container: %q %v, want running generation 1", out, err)
	}
	if _, err := d.Exec(ctx, "nix-collect-garbage"); err != nil {
		t.Fatal(err)
	}
	paths, _ := (&nixstore.Store{}).Requisites(ctx, pkg)
	if n := dropletValid(t, ctx, d, paths); n != len(paths) {
		t.Fatalf("after GC in droplet %d of %d deployed paths valid", n, len(paths))
	}
	dep, err = cl.Deploy(ctx, proto.Deploy{App: "fleetdeploy", Package: pkg}, nil)
	if err != nil || dep.Generation != 1 || dep.Changed {
		t.Errorf("same deploy again = %+v, %v; want generation 1 unchanged", dep, err)
	}

	// The SSH connection drops in the middle of pushing the next version:
	// the droplet's store stays consistent and the app keeps running.
	pkg2 := nt.BuildClosure(t, "fleetdeploy", 8)
	paths2, _ := (&nixstore.Store{}).Requisites(ctx, pkg2)
	// Cut at half of what the push will send.
	have := map[string]bool{}
	for _, p := range paths {
		have[p] = true
	}
	var send []string
	for _, p := range paths2 {
		if !have[p] {
			send = append(send, p)
		}
	}
	var wire countW
	zw, _ := zstd.NewWriter(&wire, zstd.WithEncoderLevel(agentclient.DefaultLevel), zstd.WithEncoderConcurrency(agentclient.DefaultConcurrency))
	if err := (&nixstore.Store{}).Export(ctx, zw, send); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	c2 := dialSSH(t, ctx, d)
	cut := agentclient.New(agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		s, err := c2.DialUnix(ctx, agent.DefaultSocket)
		if err != nil {
			return nil, err
		}
		return &dropAfter{ReadWriteCloser: s, left: int(wire.n / 2), drop: func() { c2.Close() }}, nil
	}), agentclient.Options{Host: d.Name})
	if _, err := closure.Push(ctx, cut, pkg2, closure.Options{}); err == nil {
		t.Fatal("push over a dropped connection succeeded")
	} else {
		t.Logf("push over a dropped connection: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if out, err := d.Exec(ctx, "nix-store", "--verify", "--check-contents"); err != nil || strings.Contains(string(out), "error") {
		t.Fatalf("verify in droplet after the drop: %v %s", err, out)
	}
	n := dropletValid(t, ctx, d, paths2)
	t.Logf("after the drop %d of %d paths of the new version are in the droplet's store", n, len(paths2))
	if n == len(paths2) {
		t.Errorf("the whole new version arrived despite the drop")
	}
	out, err = d.Exec(ctx, "docker", "inspect", "-f", "{{.State.Running}} {{index .Config.Labels \"nd.generation\"}}", "nd-fleetdeploy")
	if err != nil || strings.TrimSpace(string(out)) != "true 1" {
		t.Errorf("container after the drop: %q %v, want generation 1 still running", out, err)
	}
	// A new connection finishes the push and deploys it.
	c3 := dialSSH(t, ctx, d)
	cl3 := agentclient.New(streamLocal(c3), agentclient.Options{Host: d.Name})
	res, err = closure.Push(ctx, cl3, pkg2, closure.Options{})
	if err != nil || res.Stats.Missing != len(paths2)-n {
		t.Fatalf("push after the drop: %+v, %v; want the %d missing paths", res.Stats, err, len(paths2)-n)
	}
	dep, err = cl3.Deploy(ctx, proto.Deploy{App: "fleetdeploy", Package: pkg2, Session: res.Session}, nil)
	if err != nil || dep.Generation != 2 {
		t.Fatalf("deploy after the drop = %+v, %v; want generation 2", dep, err)
	}
}

// dropAfter drops the whole SSH connection once left bytes are written.
type dropAfter struct {
	io.ReadWriteCloser
	left int
	drop func()
}

func (d *dropAfter) Write(b []byte) (int, error) {
	if len(b) >= d.left {
		n, _ := d.ReadWriteCloser.Write(b[:d.left])
		d.left = 0
		d.drop()
		return n, errors.New("connection dropped")
	}
	d.left -= len(b)
	return d.ReadWriteCloser.Write(b)
}

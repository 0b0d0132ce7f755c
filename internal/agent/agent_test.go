package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
)

// testRuntime stands in for internal/dockerrt behind the Runtime interface
// (the container side is tested there); it records what it was asked.
type testRuntime struct {
	mu    sync.Mutex
	specs []deployspec.Spec
	fail  error
	block chan struct{} // if set, Deploy waits for it
	// Images prepared (agent.ImagePreparer) and asked to be removed.
	prepared, removed []string
}

func (r *testRuntime) PrepareImage(ctx context.Context, m *manifest.Manifest, pkg string, layer []byte) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := fmt.Sprintf("sha256:%x", sha256.Sum256(append([]byte(pkg), layer...)))
	r.prepared = append(r.prepared, id)
	return id, nil
}

func (r *testRuntime) RemoveImageIfUnused(ctx context.Context, app, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = append(r.removed, app+" "+id)
}

func (r *testRuntime) Deploy(ctx context.Context, s deployspec.Spec) (agent.DeployResult, error) {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.specs = append(r.specs, s)
	if r.fail != nil {
		return agent.DeployResult{}, r.fail
	}
	s.Progress("container", "started")
	return agent.DeployResult{ContainerID: fmt.Sprintf("c%d", len(r.specs)), Changed: true}, nil
}

type env struct {
	t      *testing.T
	root   string // chroot store of the "host"
	store  *nixstore.Store
	state  string
	socket string
	rt     *testRuntime
	client *agentclient.Client
}

// start runs an in-process agent with its own empty Nix store on a temp socket.
func start(t *testing.T) *env {
	t.Helper()
	nt.RequireNix(t)
	dir := t.TempDir()
	e := &env{t: t, root: filepath.Join(dir, "host"), state: filepath.Join(dir, "state"),
		socket: filepath.Join(dir, "run", "nd-agent", "agent.sock"), rt: &testRuntime{}}
	e.store = &nixstore.Store{Root: e.root}
	a := agent.New(agent.Config{StateDir: e.state, Store: e.store, Runtime: e.rt, NDVersion: "test",
		Log: hclog.New(&hclog.LoggerOptions{Name: "nd-agent", Level: hclog.Debug, Output: testWriter{t}})})
	l, err := agent.Listen(e.socket, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	e.client = agentclient.New(unixDialer(e.socket), agentclient.Options{Host: "testhost", NDVersion: "test"})
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func unixDialer(socket string) agentclient.Dialer {
	return agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	})
}

func (e *env) valid(paths []string) map[string]bool {
	e.t.Helper()
	v, err := e.store.QueryValid(context.Background(), paths)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) verify() {
	e.t.Helper()
	out, err := exec.Command("nix-store", "--store", e.root, "--verify", "--check-contents").CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error")) {
		e.t.Fatalf("nix-store --verify --check-contents on the host store: %v: %s", err, out)
	}
}

func (e *env) gc() {
	e.t.Helper()
	out, err := exec.Command("nix-store", "--store", e.root, "--gc").CombinedOutput()
	if err != nil {
		e.t.Fatalf("nix-store --gc: %v: %s", err, out)
	}
}

func requisites(t *testing.T, pkg string) []string {
	t.Helper()
	paths, err := (&nixstore.Store{}).Requisites(context.Background(), pkg)
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestPushDeployGC(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	pkg := nt.BuildClosure(t, "app1", 3)
	paths := requisites(t, pkg)

	w, err := e.client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Capabilities.Nix || !w.Capabilities.Docker || w.Protocol != proto.Version {
		t.Fatalf("Welcome = %+v, want Nix and Docker capable, protocol %d", w, proto.Version)
	}
	if w.Capabilities.StateDir != e.state {
		t.Errorf("Welcome.Capabilities.StateDir = %q, want %q (where nd-push uploads secrets)", w.Capabilities.StateDir, e.state)
	}

	res, err := closure.Push(ctx, e.client, pkg, closure.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Paths != len(paths) || res.Stats.Missing != len(paths) || len(res.Imported) != len(paths) || res.Stats.Sent != len(paths) {
		t.Fatalf("first push stats %+v imported %d, want all %d paths sent", res.Stats, len(res.Imported), len(paths))
	}
	if res.Stats.WireBytes >= res.Stats.Bytes {
		t.Errorf("wire bytes %d not below export bytes %d", res.Stats.WireBytes, res.Stats.Bytes)
	}
	if v := e.valid(paths); len(v) != len(paths) {
		t.Fatalf("after push %d of %d paths valid", len(v), len(paths))
	}
	e.verify()

	// Imported but not deployed: the session's temporary roots keep it.
	e.gc()
	if v := e.valid(paths); len(v) != len(paths) {
		t.Fatalf("GC after push removed paths: %d of %d valid", len(v), len(paths))
	}

	// A second push sends nothing.
	res2, err := closure.Push(ctx, e.client, pkg, closure.Options{})
	if err != nil || res2.Stats.Missing != 0 {
		t.Fatalf("second push: %+v, %v; want nothing missing", res2.Stats, err)
	}

	var progress []string
	d, err := e.client.Deploy(ctx, proto.Deploy{App: "app1", Package: pkg, PushedBy: "tester", Session: res.Session},
		func(p proto.Progress) { progress = append(progress, p.Stage) })
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || !d.Changed || d.ContainerID != "c1" {
		t.Errorf("Deploy = %+v, want generation 1, changed, c1", d)
	}
	if len(progress) == 0 {
		t.Errorf("no progress events")
	}
	if len(e.rt.specs) != 1 || e.rt.specs[0].Manifest.Name != "app1" || e.rt.specs[0].Generation != 1 {
		t.Errorf("runtime got %+v", e.rt.specs)
	}
	root := filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/app1/1")
	if target, err := os.Readlink(root); err != nil || target != pkg {
		t.Errorf("generation root %s -> %q (%v), want %s", root, target, err, pkg)
	}
	// The session's temporary roots are gone; the generation keeps all.
	for _, s := range []string{res.Session, res2.Session} {
		if _, err := os.Stat(filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent", manifest.SessionRootsDir, s)); !errors.Is(err, os.ErrNotExist) && s == res.Session {
			t.Errorf("session %s roots still there: %v", s, err)
		}
	}
	os.RemoveAll(filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent", manifest.SessionRootsDir))
	e.gc()
	if v := e.valid(paths); len(v) != len(paths) {
		t.Fatalf("GC after deploy removed paths: %d of %d valid", len(v), len(paths))
	}
	e.verify()

	// Same package again: no new generation.
	d, err = e.client.Deploy(ctx, proto.Deploy{App: "app1", Package: pkg}, nil)
	if err != nil || d.Generation != 1 {
		t.Fatalf("redeploy = %+v, %v; want generation 1", d, err)
	}
	// Forced: new generations; only 3 superseded ones are kept.
	for i := 2; i <= 6; i++ {
		d, err = e.client.Deploy(ctx, proto.Deploy{App: "app1", Package: pkg, Force: true}, nil)
		if err != nil || d.Generation != i {
			t.Fatalf("forced deploy = %+v, %v; want generation %d", d, err, i)
		}
	}
	st, err := e.client.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var gens []int
	for _, g := range st.Apps[0].Generations {
		gens = append(gens, g.Number)
	}
	if len(st.Apps) != 1 || st.Apps[0].Generation != 6 || fmt.Sprint(gens) != "[3 4 5 6]" {
		t.Errorf("Status = %+v, want app1 current 6, generations [3 4 5 6]", st)
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/app1"))
	var names []string
	for _, en := range ents {
		names = append(names, en.Name())
	}
	if fmt.Sprint(names) != "[3 4 5 6]" {
		t.Errorf("generation roots %v, want [3 4 5 6]", names)
	}
}

// cutDialer's streams stop after limit bytes written, like a dropped link.
type cutConn struct {
	net.Conn
	left int
}

func (c *cutConn) Write(b []byte) (int, error) {
	if len(b) > c.left {
		n, _ := c.Conn.Write(b[:c.left])
		c.left = 0
		c.Conn.Close()
		return n, errors.New("link dropped")
	}
	c.left -= len(b)
	return c.Conn.Write(b)
}

func TestDroppedConnectionLeavesStoreConsistent(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	pkg := nt.BuildClosure(t, "app2", 6)
	paths := requisites(t, pkg)
	// Find the compressed size, then cut at several fractions of it.
	probe := start(t)
	full, err := closure.Push(ctx, probe.client, pkg, closure.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var imported int
	for _, frac := range []float64{0.1, 0.5, 0.9} {
		limit := int(float64(full.Stats.WireBytes) * frac)
		cut := agentclient.New(agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
			c, err := net.Dial("unix", e.socket)
			if err != nil {
				return nil, err
			}
			return &cutConn{Conn: c, left: limit + 4096}, nil // the handshake and query are small
		}), agentclient.Options{Host: "testhost"})
		_, err := closure.Push(ctx, cut, pkg, closure.Options{Session: "cut"})
		if err == nil {
			t.Fatalf("push cut at %.0f%% succeeded", frac*100)
		}
		time.Sleep(100 * time.Millisecond) // the agent notices the drop
		v := e.valid(paths)
		t.Logf("cut at %.0f%% (%d bytes): %d of %d paths imported: %v", frac*100, limit, len(v), len(paths), err)
		// Whatever arrived is a dependency-closed prefix, and complete.
		for i, p := range paths {
			if v[p] && i > 0 && !v[paths[i-1]] {
				t.Errorf("%s imported without the path before it", p)
			}
		}
		if len(v) < imported {
			t.Errorf("fewer paths valid after a retry")
		}
		imported = len(v)
		e.verify()
	}
	if imported == len(paths) {
		t.Errorf("cut pushes imported everything: cut too late to test anything")
	}
	// GC keeps what the cut pushes imported (session roots), and a normal
	// push completes it, sending only the rest.
	before := e.valid(paths)
	e.gc()
	if v := e.valid(paths); len(v) != len(before) {
		t.Errorf("GC removed imported paths of an interrupted push: %d -> %d", len(before), len(v))
	}
	res, err := closure.Push(ctx, e.client, pkg, closure.Options{Session: "cut"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Missing != len(paths)-len(before) {
		t.Errorf("resumed push sent %d paths, want %d", res.Stats.Missing, len(paths)-len(before))
	}
	if v := e.valid(paths); len(v) != len(paths) {
		t.Fatalf("after resumed push %d of %d valid", len(v), len(paths))
	}
	e.verify()
}

// rawImport sends export bytes as an Import through the client.
func rawImport(ctx context.Context, c *agentclient.Client, export []byte) (proto.Imported, error) {
	return c.Import(ctx, agentclient.ImportOptions{}, func(w io.Writer) error {
		_, err := w.Write(export)
		return err
	})
}

func TestMalformedStreamRefused(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	const pA = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a"
	const pB = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-b"
	good := nt.ExportPath{Path: pA, Node: nt.File("a")}
	tests := []struct {
		name     string
		in       []byte
		want     string
		imported []string
	}{
		{"unsorted", nt.Export(nt.ExportPath{Path: pB, Node: nt.Dir(nt.Entry{Name: "z", Node: nt.File("")}, nt.Entry{Name: "a", Node: nt.File("")})}),
			"entry 1, file /a: entry \"a\" after \"z\": names not sorted", nil},
		{"dotdot", nt.Export(nt.ExportPath{Path: pB, Node: nt.Dir(nt.Entry{Name: "..", Node: nt.File("")})}), `bad entry name ".."`, nil},
		{"bad path", nt.Export(nt.ExportPath{Path: "/nix/store/xyz-b", Node: nt.File("")}), "want /nix/store/<32-char hash>", nil},
		{"missing reference", nt.Export(nt.ExportPath{Path: pB, References: []string{pA}, Node: nt.File("")}), "is neither earlier in the stream nor valid on the target", nil},
		{"good then bad", append(nt.Export(good)[:len(nt.Export(good))-8], nt.Export(nt.ExportPath{Path: pB, Node: nt.Node{Type: "fifo"}})...),
			`entry 2, file /: node type "fifo"`, []string{pA}},
		{"not zstd", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.valid([]string{pA, pB})
			var err error
			if tt.in == nil {
				// Raw garbage instead of zstd.
				st, derr := net.Dial("unix", e.socket)
				if derr != nil {
					t.Fatal(derr)
				}
				defer st.Close()
				req, _ := http.NewRequest(http.MethodPost, "http://nd-agent/v1/store/import?paths=0", strings.NewReader("definitely not zstd, definitely not zstd"))
				req.Header.Set("Content-Encoding", proto.CompressionZstd)
				if err := req.Write(st); err != nil {
					t.Fatal(err)
				}
				resp, rerr := http.ReadResponse(bufio.NewReader(st), req)
				if rerr != nil {
					t.Fatal(rerr)
				}
				var l proto.Line
				json.NewDecoder(resp.Body).Decode(&l)
				if resp.StatusCode != http.StatusBadRequest || l.Error == nil || l.Error.Code != proto.CodeBadStream {
					t.Errorf("garbage import: %s %+v, want 400 and code %s", resp.Status, l.Error, proto.CodeBadStream)
				}
			} else {
				_, err = rawImport(ctx, e.client, tt.in)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Import = %v, want error containing %q", err, tt.want)
				}
				if !agentclient.IsCode(err, proto.CodeBadStream) {
					t.Errorf("error code of %v is not %s", err, proto.CodeBadStream)
				}
			}
			v := e.valid([]string{pA, pB})
			for p := range before {
				delete(v, p)
			}
			if len(v) != len(tt.imported) || (len(tt.imported) > 0 && !v[tt.imported[0]]) {
				t.Errorf("valid after refused import: %v, want %v", v, tt.imported)
			}
			e.verify()
		})
	}
}

func TestDeploySerializedAndFailures(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	pkg := nt.BuildClosure(t, "app3", 1)
	if _, err := closure.Push(ctx, e.client, pkg, closure.Options{}); err != nil {
		t.Fatal(err)
	}
	// Two deploys at once: the second waits for the first and says so.
	e.rt.block = make(chan struct{})
	var wg sync.WaitGroup
	results := make([]proto.Deployed, 2)
	errs := make([]error, 2)
	waited := make(chan string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.client.Deploy(ctx, proto.Deploy{App: "app3", Package: pkg, Force: true}, func(p proto.Progress) {
				if p.Stage == "waiting" {
					waited <- p.Message
				}
			})
		}()
	}
	select {
	case m := <-waited:
		t.Logf("second deploy: %s", m)
	case <-time.After(10 * time.Second):
		t.Fatal("no deploy reported waiting for the other")
	}
	close(e.rt.block)
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if g := results[0].Generation + results[1].Generation; g != 3 {
		t.Errorf("generations %d and %d, want 1 and 2", results[0].Generation, results[1].Generation)
	}
	e.rt.block = nil

	// A failing runtime records no generation and leaves no root.
	e.rt.fail = errors.New("container unhealthy")
	_, err := e.client.Deploy(ctx, proto.Deploy{App: "app3", Package: pkg, Force: true}, nil)
	if !agentclient.IsCode(err, proto.CodeDeploy) || !strings.Contains(err.Error(), "generation 3: container unhealthy") {
		t.Errorf("failed deploy: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent/app3/3")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root of failed generation left: %v", err)
	}
	st, _ := e.client.Status(ctx, "app3")
	if len(st.Apps) != 1 || st.Apps[0].Generation != 2 {
		t.Errorf("status after failed deploy: %+v, want current 2", st)
	}
	e.rt.fail = nil

	for _, tt := range []struct {
		req  proto.Deploy
		code string
	}{
		{proto.Deploy{App: "app3", Package: "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-absent"}, proto.CodeNotFound},
		{proto.Deploy{App: "Bad App", Package: pkg}, proto.CodeBadRequest},
		{proto.Deploy{App: "other", Package: pkg}, proto.CodeBadRequest},
		{proto.Deploy{App: "app3", Package: "/etc/passwd"}, proto.CodeBadRequest},
	} {
		if _, err := e.client.Deploy(ctx, tt.req, nil); !agentclient.IsCode(err, tt.code) {
			t.Errorf("Deploy(%+v) = %v, want code %s", tt.req, err, tt.code)
		}
	}
}

func TestSocketPermissions(t *testing.T) {
	e := start(t)
	for p, want := range map[string]os.FileMode{filepath.Dir(e.socket): 0o700, e.socket: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	// A second agent on the same socket refuses to start.
	if _, err := agent.Listen(e.socket, ""); err == nil || !strings.Contains(err.Error(), "another nd-agent") {
		t.Errorf("second Listen = %v", err)
	}
}

// infoServer serves GET /v1/info with info on a unix socket.
func infoServer(t *testing.T, info proto.Info) string {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(&info)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestVersionSkew(t *testing.T) {
	// An nd-agent speaking an older API than this nd-push.
	sock := infoServer(t, proto.Info{Protocol: proto.Version - 1, MinProtocol: proto.Version - 1, NDVersion: "test"})
	cl := agentclient.New(unixDialer(sock), agentclient.Options{Host: "droplet1", NDVersion: "9.9"})
	_, err := cl.Info(context.Background())
	want := fmt.Sprintf("nd-agent on droplet1 speaks protocol %d (nd test), this nd-push speaks %d (nd 9.9): upgrade nd-agent on droplet1 to nd 9.9", proto.Version-1, proto.Version)
	if err == nil || err.Error() != want {
		t.Errorf("Info = %v\nwant %s", err, want)
	}

	// An nd-agent speaking a newer API than this nd-push.
	sock = infoServer(t, proto.Info{Protocol: proto.Version + 1, MinProtocol: proto.Version + 1, NDVersion: "2.0"})
	cl = agentclient.New(unixDialer(sock), agentclient.Options{Host: "droplet2", NDVersion: "1.0"})
	_, err = cl.Info(context.Background())
	var se *agentclient.SkewError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), fmt.Sprintf("nd-agent on droplet2 speaks protocol %d (nd 2.0), this nd-push speaks %d (nd 1.0): upgrade nd-push", proto.Version+1, proto.Version)) {
		t.Errorf("Info from a newer agent = %v", err)
	}
	// Every request checks the version first.
	if _, err := cl.Status(context.Background(), ""); !errors.As(err, &se) {
		t.Errorf("Status from a newer agent = %v", err)
	}
}

func TestDialStdio(t *testing.T) {
	e := start(t)
	// Each stream is one DialStdio, as `nd-agent dial-stdio` on an SSH
	// exec channel would run it.
	d := agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		go func() {
			err := agent.DialStdio(context.Background(), e.socket, inR, outW)
			outW.CloseWithError(err)
		}()
		return &pipeStream{outR, inW}, nil
	})
	cl := agentclient.New(d, agentclient.Options{Host: "stdio"})
	if _, err := cl.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	pkg := nt.BuildClosure(t, "stdio", 1)
	res, err := closure.Push(context.Background(), cl, pkg, closure.Options{})
	if err != nil || len(res.Imported) != 3 {
		t.Fatalf("push through dial-stdio: %+v, %v", res, err)
	}
	e.verify()
	if err := agent.DialStdio(context.Background(), filepath.Join(t.TempDir(), "none.sock"), nil, io.Discard); err == nil {
		t.Error("DialStdio to a missing socket succeeded")
	}
}

type pipeStream struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (p *pipeStream) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeStream) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeStream) Close() error {
	p.w.Close()
	return p.r.Close()
}

func TestImportLocalFailure(t *testing.T) {
	e := start(t)
	pkg := nt.BuildClosure(t, "localfail", 2)
	paths := requisites(t, pkg)
	var exp bytes.Buffer
	if err := (&nixstore.Store{}).Export(context.Background(), &exp, paths); err != nil {
		t.Fatal(err)
	}
	broke := errors.New("export broke")
	start := time.Now()
	_, err := e.client.Import(context.Background(), agentclient.ImportOptions{Session: "lf"}, func(w io.Writer) error {
		w.Write(exp.Bytes()[:exp.Len()/2])
		return broke
	})
	if !errors.Is(err, broke) {
		t.Fatalf("Import = %v, want %v", err, broke)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a local failure took %v to report", d)
	}
	time.Sleep(100 * time.Millisecond)
	v := e.valid(paths)
	for i, p := range paths {
		if v[p] && i > 0 && !v[paths[i-1]] {
			t.Errorf("%s imported without the path before it", p)
		}
	}
	if len(v) == len(paths) {
		t.Errorf("half a stream imported everything")
	}
	e.verify()
}

func TestConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	same := nt.BuildClosure(t, "conc", 4)
	other := nt.BuildClosure(t, "conc2", 3)
	pkgs := []string{same, same, other}
	// The test's host store is brand new: Nix 2.8 processes that create
	// one at the same moment race on its gcroots/profiles symlink ("File
	// exists"), which a droplet's store, made once by its installer,
	// never meets. Let one Nix call create it first.
	e.valid(requisites(t, same))
	errs := make([]error, len(pkgs))
	var wg sync.WaitGroup
	for i, p := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = closure.Push(ctx, e.client, p, closure.Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d of %s: %v", i, pkgs[i], err)
		}
	}
	for _, p := range []string{same, other} {
		paths := requisites(t, p)
		if v := e.valid(paths); len(v) != len(paths) {
			t.Errorf("%s: %d of %d paths valid", p, len(v), len(paths))
		}
	}
	e.verify()
}

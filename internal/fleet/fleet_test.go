package fleet

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/testutil"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustExec(t *testing.T, ctx context.Context, d *Droplet, argv ...string) string {
	t.Helper()
	out, err := d.Exec(ctx, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// checkCommon checks what every droplet with dockerd offers.
func checkCommon(t *testing.T, ctx context.Context, d *Droplet) {
	t.Helper()
	if err := sshBanner(ctx, d.Addr); err != nil {
		t.Errorf("sshd banner at %s:22: %v", d.Addr, err)
	}
	if v := mustExec(t, ctx, d, "docker", "-H", "unix://"+d.DockerSocket(), "info", "--format", "{{.ServerVersion}}"); v == "" {
		t.Errorf("docker info in droplet: empty server version")
	}
	// The droplet's /run is its own: the laptop's docker.pid is not there.
	if pid := mustExec(t, ctx, d, "cat", "/run/docker.pid"); pid == readFile(t, "/var/run/docker.pid") {
		t.Errorf("droplet's /run/docker.pid = laptop's %s", pid)
	}
	if got := mustExec(t, ctx, d, "sh", "-c", "ip -4 -o addr show dev eth0"); !strings.Contains(got, " "+d.Addr+"/30 ") {
		t.Errorf("droplet eth0 = %q, want address %s/30", got, d.Addr)
	}
	for _, f := range []string{d.SSHConfig(), d.KnownHostsFile(), d.ClientKeyFile()} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("ssh file: %v", err)
		}
	}
	if !strings.Contains(readFile(t, d.SSHConfig()), "HostName "+d.Addr) {
		t.Errorf("ssh_config %s lacks HostName %s", d.SSHConfig(), d.Addr)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestDropletWithNix(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	start := time.Now()
	d := ForTest(t, 1, Options{Nix: true})[0]
	t.Logf("one droplet (Nix, dockerd, sshd) up in %v", time.Since(start).Round(time.Millisecond))
	if !d.HasNix {
		t.Fatal("HasNix = false, want true")
	}
	checkCommon(t, ctx, d)
	if v := mustExec(t, ctx, d, "nix-store", "--version"); !strings.Contains(v, "nix") {
		t.Errorf("nix-store --version in droplet = %q", v)
	}
	// A path added to the laptop's store is not in the droplet's, and one
	// added inside is not on the laptop.
	f := filepath.Join(t.TempDir(), "nd-fleet-laptop-only")
	os.WriteFile(f, []byte(fmt.Sprint(time.Now().UnixNano())), 0o644)
	out, err := exec.Command("nix-store", "--add", f).Output()
	if err != nil {
		t.Fatalf("nix-store --add on the laptop: %v", err)
	}
	laptopPath := strings.TrimSpace(string(out))
	if _, err := d.Exec(ctx, "test", "-e", laptopPath); err == nil {
		t.Errorf("laptop store path %s is visible inside the droplet", laptopPath)
	}
	if _, err := d.Exec(ctx, "nix-store", "--check-validity", laptopPath); err == nil {
		t.Errorf("laptop store path %s is valid in the droplet's store", laptopPath)
	}
	inner := mustExec(t, ctx, d, "sh", "-c", "echo droplet-only-$$ > /tmp/x && nix-store --add /tmp/x")
	if !strings.HasPrefix(inner, "/nix/store/") {
		t.Fatalf("nix-store --add inside = %q", inner)
	}
	if _, err := os.Stat(inner); err == nil {
		t.Errorf("droplet store path %s is visible on the laptop", inner)
	}
}

func TestDropletWithoutNix(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := ForTest(t, 1, Options{})[0]
	if d.HasNix {
		t.Fatal("HasNix = true, want false")
	}
	checkCommon(t, ctx, d)
	if out, err := d.Exec(ctx, "sh", "-c", "command -v nix-store nix-build nix"); err == nil {
		t.Errorf("nix tools on PATH in a droplet without Nix: %q", out)
	}
	if got := mustExec(t, ctx, d, "ls", "-A", "/nix"); got != "" {
		t.Errorf("/nix in a droplet without Nix holds %q, want nothing", got)
	}
	if _, err := d.Exec(ctx, "mkdir", "/nix/store"); err == nil {
		t.Errorf("mkdir /nix/store succeeded in a droplet without Nix; /nix should be read-only")
	}
	// Other tools are still there.
	mustExec(t, ctx, d, "sh", "-c", "command -v ls && command -v sshd")

	// A file copied in runs inside and does not appear on the machine; /tmp
	// and /usr/local are the droplet's own.
	if err := d.CopyIn("/bin/busybox", "/usr/local/nd-fleet-test/busybox"); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, ctx, d, "/usr/local/nd-fleet-test/busybox", "echo", "hello"); got != "hello" {
		t.Errorf("copied-in busybox echo = %q", got)
	}
	if _, err := os.Stat("/usr/local/nd-fleet-test/busybox"); err == nil {
		t.Errorf("file copied into the droplet appeared on the machine")
	}
	marker := filepath.Join(os.TempDir(), "nd-fleet-marker-"+d.Name)
	os.WriteFile(marker, nil, 0o644)
	defer os.Remove(marker)
	if _, err := d.Exec(ctx, "test", "-e", marker); err == nil {
		t.Errorf("the machine's %s is visible in the droplet", marker)
	}
}

// TestShape sends data over the link while shaped and unshaped; a functional
// check with wide bounds, not a benchmark.
func TestShape(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := ForTest(t, 1, Options{NoDocker: true, Rate: "40mbit"})[0]
	l, err := d.Listen("tcp", d.Addr+":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	const size = 4 << 20
	send := func() float64 {
		t.Helper()
		c, err := net.Dial("tcp", d.Addr+":5001")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if _, err := io.Copy(c, io.LimitReader(zeros{}, size)); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c) // the receiver closes after reading everything
		return float64(size) / time.Since(start).Seconds()
	}
	shaped := send()
	want := 40e6 / 8
	t.Logf("shaped to 40mbit: %.1f MB/s", shaped/1e6)
	if shaped < want*0.3 || shaped > want*1.7 {
		t.Errorf("throughput with Rate 40mbit = %.2f MB/s, want about %.2f MB/s", shaped/1e6, want/1e6)
	}
	if err := d.Shape(ctx, ""); err != nil {
		t.Fatal(err)
	}
	free := send()
	t.Logf("unshaped: %.1f MB/s", free/1e6)
	if free < 3*shaped {
		t.Errorf("unshaped throughput %.2f MB/s is not clearly above shaped %.2f MB/s", free/1e6, shaped/1e6)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestTeardownLeavesNothing runs a container and a background process in a
// droplet of each kind, tears it down and checks no process, namespace,
// link, mount, cgroup or directory of it is left.
func TestTeardownLeavesNothing(t *testing.T) {
	for _, kind := range []Kind{Bookworm, Modern} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testTeardownLeavesNothing(t, kind)
		})
	}
}

func testTeardownLeavesNothing(t *testing.T, kind Kind) {
	ctx := testCtx(t)
	f, d := startOne(t, ctx, Options{Prefix: "teardown", Kind: kind})
	if err := d.Start(ctx, "sleeper", "sleep", "1000"); err != nil {
		t.Fatal(err)
	}
	if !d.Running("sleeper") {
		t.Fatalf("background process not running; log: %s", readFile(t, d.LogFile("sleeper")))
	}
	// A container from an image made of the static busybox.
	imp := d.Command(ctx, "docker", "-H", "unix:///run/docker.sock", "import", "-", "nd-fleet-bb")
	imp.Stdin = busyboxTar(t)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	cid := mustExec(t, ctx, d, "docker", "-H", "unix:///run/docker.sock", "run", "-d", "--network", "none", "nd-fleet-bb", "/bin/busybox", "sleep", "1000")
	cpid, _ := strconv.Atoi(mustExec(t, ctx, d, "docker", "-H", "unix:///run/docker.sock", "inspect", "-f", "{{.State.Pid}}", cid))
	if cpid <= 0 {
		t.Fatalf("container pid = %d", cpid)
	}
	container := procFor(cpid, "container")
	start := time.Now()
	if err := closeAndCheck(f); err != nil {
		t.Error(err)
	}
	t.Logf("teardown with a running container took %v", time.Since(start).Round(time.Millisecond))
	if container.alive() {
		t.Errorf("container process %d survived the teardown", cpid)
	}
}

// startOne starts one droplet with Start (not ForTest) for a test that
// checks its teardown itself (closeAndCheck); it is torn down at the end
// of the test anyway (Close is idempotent).
func startOne(t *testing.T, ctx context.Context, opts Options) (*Fleet, *Droplet) {
	t.Helper()
	testutil.RequireRoot(t)
	if opts.Kind == Modern {
		err := RootfsReady()
		testutil.Require(t, err == nil, fmt.Sprint(err))
	}
	f, err := Start(ctx, 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, f.Droplets()[0]
}

// busyboxTar is a root file system holding only the static busybox.
func busyboxTar(t *testing.T) io.Reader {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	tw.Close()
	return &buf
}

// TestStaleDropletRemovedByNextStart simulates a test binary that died
// without teardown: its droplet (of either kind) is removed by the next Start.
func TestStaleDropletRemovedByNextStart(t *testing.T) {
	for _, kind := range []Kind{Bookworm, Modern} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testStaleDropletRemoved(t, kind)
		})
	}
}

func testStaleDropletRemoved(t *testing.T, kind Kind) {
	ctx := testCtx(t)
	_, d := startOne(t, ctx, Options{Prefix: "stale", NoDocker: true, Kind: kind})
	// Make a dead process its owner.
	c := exec.Command("true")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	dead := procFor(c.Process.Pid, "owner")
	c.Wait()
	if err := updateState(d.Name, func(s *state) { s.Owner = dead }); err != nil {
		t.Fatal(err)
	}
	s, _ := readState(d.Name)
	procs := append([]proc{s.Holder}, s.Procs...)
	pins := pin(d.Name, s.Holder)
	defer pins.release()

	g, err := Start(ctx, 1, Options{Prefix: "fresh", NoDocker: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	left := checkGone(d, pins.netID, pins.mntID, procs)
	if g.Droplets()[0].index == d.index {
		// The new droplet may reuse the freed address block and link name.
		left = slices.DeleteFunc(left, func(l string) bool { return l == "link "+outerIf(d.index) })
	}
	if len(left) > 0 {
		t.Errorf("stale droplet not removed by the next Start: %s", strings.Join(left, "; "))
	}
	if err := sshBanner(ctx, g.Droplets()[0].Addr); err != nil {
		t.Errorf("new droplet: %v", err)
	}
}

func TestStartThree(t *testing.T) {
	ctx := testCtx(t)
	start := time.Now()
	ds := ForTest(t, 3, Options{})
	t.Logf("three droplets (dockerd, sshd) up in %v", time.Since(start).Round(time.Millisecond))
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Addr] {
			t.Errorf("address %s given twice", d.Addr)
		}
		seen[d.Addr] = true
		mustExec(t, ctx, d, "docker", "-H", "unix:///run/docker.sock", "version")
	}
	// Each droplet runs its own dockerd.
	pid0 := mustExec(t, ctx, ds[0], "cat", "/run/docker.pid")
	if pid1 := mustExec(t, ctx, ds[1], "cat", "/run/docker.pid"); pid0 == pid1 {
		t.Errorf("droplets share dockerd pid %s", pid0)
	}
}

func TestAddrs(t *testing.T) {
	for _, tc := range []struct {
		index        int
		outer, inner string
	}{
		{0, "10.213.0.1", "10.213.0.2"},
		{1, "10.213.0.5", "10.213.0.6"},
		{64, "10.213.1.1", "10.213.1.2"},
		{maxIndex - 1, "10.213.255.253", "10.213.255.254"},
	} {
		o, i := addrs(tc.index)
		if o.String() != tc.outer || i.String() != tc.inner {
			t.Errorf("addrs(%d) = %s, %s, want %s, %s", tc.index, o, i, tc.outer, tc.inner)
		}
	}
}

func TestTestPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"TestFoo":                          "foo",
		"TestPush/Cold_Start":              "push-cold-start",
		"TestAVeryLongNameThatGoesOnAndOn": "averylongnamethatgoe",
		"Test":                             "t",
	} {
		if got := testPrefix(in); got != want || !nameRE.MatchString(got+"-abcdef-1") {
			t.Errorf("testPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDropletDiskHasJournal checks that a droplet's store and Docker data
// sit on a journaled ext4 of its own, as on a real droplet (this machine's
// root file system has no journal), and that the disk and its loop device
// go with the droplet.
func TestDropletDiskHasJournal(t *testing.T) {
	for _, kind := range []Kind{Bookworm, Modern} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			f, d := startOne(t, ctx, Options{Prefix: "disk", Kind: kind, Nix: true})
			var dev string
			for _, dir := range []string{"/nix/store", "/var/lib/docker"} {
				got := strings.Fields(mustExec(t, ctx, d, "findmnt", "-n", "-o", "SOURCE,FSTYPE", "--target", dir))
				if len(got) != 2 || got[1] != "ext4" || !strings.HasPrefix(got[0], "/dev/loop") {
					t.Fatalf("%s of droplet %s is on %q, want an ext4 on a loop device", dir, d.Name, got)
				}
				src, _, _ := strings.Cut(got[0], "[")
				if dev != "" && src != dev {
					t.Errorf("%s is on %s, /nix/store on %s: want one disk", dir, src, dev)
				}
				dev = src
			}
			if _, err := os.Stat("/proc/fs/jbd2/" + filepath.Base(dev) + "-8"); err != nil {
				t.Errorf("droplet's disk %s has no journal: %v", dev, err)
			}
			if isMountPoint(dataDir(d.Name)) {
				t.Errorf("the droplet's disk is still mounted in the machine's namespace at %s", dataDir(d.Name))
			}
			img := diskImage(d.Name)
			if err := closeAndCheck(f); err != nil {
				t.Error(err)
			}
			// The loop device detaches once the droplet's namespace is freed.
			deadline := time.Now().Add(10 * time.Second)
			for {
				out, _ := exec.Command("losetup", "-j", img).Output()
				if len(bytes.TrimSpace(out)) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("loop device of %s still attached after teardown: %s", img, out)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

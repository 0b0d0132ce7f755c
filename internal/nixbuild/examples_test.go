package nixbuild_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/testutil"
)

// exampleOptions returns what an example needs beyond the defaults: the
// host's redis-server imported as pkgs.redis, the host's Apache as
// pkgs.apacheHttpd.
func exampleOptions(t *testing.T, name string) func(*nixbuild.Options) {
	t.Helper()
	var hp nixbuild.HostPackage
	switch name {
	case "redis":
		_, err := os.Stat("/usr/bin/redis-server")
		testutil.Require(t, err == nil, "the redis example needs /usr/bin/redis-server (Debian redis-server) to import offline")
		hp = nixbuild.HostPackage{
			Attr:     "redis",
			Programs: map[string]string{"redis-server": "/usr/bin/redis-server", "redis-cli": "/usr/bin/redis-cli"},
		}
	case "httpd":
		hp = hostApache(t)
	default:
		return nil
	}
	file := filepath.Join(t.TempDir(), "host-pkgs.nix")
	if err := nixbuild.WriteHostPackages(context.Background(), nil, file, []nixbuild.HostPackage{hp}); err != nil {
		t.Fatal(err)
	}
	return func(o *nixbuild.Options) { o.ExtraPkgs = file }
}

// apacheModules are the modules modules/httpd.nix loads. Debian's apache2
// has unixd and log_config built in, so it ships no .so for them (the
// module loads only what the binary lacks).
var apacheModules = []string{"mpm_event", "authz_core", "unixd", "dir", "mime", "log_config", "alias"}

// hostApache is Debian's Apache (apache2-bin) in the layout of nixpkgs'
// apacheHttpd: bin/httpd, modules/mod_*.so, conf/mime.types.
func hostApache(t *testing.T) nixbuild.HostPackage {
	t.Helper()
	const bin, modDir, mimeTypes = "/usr/sbin/apache2", "/usr/lib/apache2/modules", "/etc/mime.types"
	_, err := os.Stat(bin)
	testutil.Require(t, err == nil, "the httpd example needs "+bin+" (Debian apache2-bin) to import offline")
	_, err = os.Stat(mimeTypes)
	testutil.Require(t, err == nil, "the httpd example needs "+mimeTypes+" (Debian media-types)")
	files := map[string]string{"conf/mime.types": mimeTypes}
	for _, m := range apacheModules {
		so := "mod_" + m + ".so"
		if _, err := os.Stat(filepath.Join(modDir, so)); err == nil {
			files["modules/"+so] = filepath.Join(modDir, so)
		}
	}
	return nixbuild.HostPackage{Attr: "apacheHttpd", Programs: map[string]string{"httpd": bin}, Files: files}
}

// exampleChecks says what each example answers once running, and what its
// log must not show after it has served for a while (e.g. httpd's children
// dying in a loop while the parent still answers).
var exampleChecks = map[string]struct {
	port    int
	check   func(addr string) error
	badLogs *regexp.Regexp
}{
	"hello":       {port: 8080, check: httpWants("/", regexp.MustCompile(`hello from nd`))},
	"supervisord": {port: 8081, check: httpWants("/cgi-bin/count", regexp.MustCompile(`count [1-9][0-9]*`))},
	"systemd":     {port: 8082, check: httpWants("/", regexp.MustCompile(`prepared by a oneshot`))},
	"redis":       {port: 6379, check: redisPing},
	"httpd": {
		port:    80,
		check:   httpWants("/", regexp.MustCompile(`hello from Apache httpd`)),
		badLogs: regexp.MustCompile(`exit signal|must be installed|:(emerg|alert|crit|error)\]`),
	},
}

func httpWants(path string, re *regexp.Regexp) func(string) error {
	return func(addr string) error {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !re.Match(body) {
			return fmt.Errorf("GET %s: %s %q, want 200 matching %s", path, resp.Status, body, re)
		}
		return nil
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

// TestExamplesRun runs every example in the local Docker as nd will: an
// image holding only the manifest's /etc, /tmp and an empty /nix/store, the
// host's /nix/store mounted read-only, the manifest's entrypoint, env, user,
// volumes. Its answer on its port proves the closure is complete, and the
// manifest's healthcheck is run inside the container.
func TestExamplesRun(t *testing.T) {
	requireNix(t)
	testutil.RequireCommands(t, "docker")
	testutil.Require(t, exec.Command("docker", "info").Run() == nil, "needs a running dockerd")
	_, real := ndInit(t)
	testutil.Require(t, real, "needs cmd/nd-init")
	configs, _ := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*", "config.nix"))
	for _, config := range configs {
		name := filepath.Base(filepath.Dir(config))
		t.Run(name, func(t *testing.T) {
			chk, ok := exampleChecks[name]
			if !ok {
				t.Fatalf("example %s has no check in exampleChecks", name)
			}
			pkg, err := build(t, config, exampleOptions(t, name))
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Load(pkg)
			if err != nil {
				t.Fatal(err)
			}
			ctr := runManifest(t, m)
			addr := publishedAddr(t, ctr, chk.port)
			waitFor(t, ctr, func() error { return chk.check(addr) })
			if name == "supervisord" {
				// A redeploy (new container, same volumes) keeps counting
				// from where the old one stopped.
				var before int
				waitFor(t, ctr, func() error {
					if before = counterValue(t, addr); before < 3 {
						return fmt.Errorf("count %d, waiting for 3", before)
					}
					return nil
				})
				if out, err := exec.Command("docker", "rm", "-f", ctr).CombinedOutput(); err != nil {
					t.Fatalf("docker rm: %v\n%s", err, out)
				}
				ctr = runManifest(t, m)
				addr = publishedAddr(t, ctr, chk.port)
				after := -1
				waitFor(t, ctr, func() error {
					if after = counterValue(t, addr); after < 0 {
						return fmt.Errorf("no count after the redeploy")
					}
					return nil
				})
				// A fresh volume would start again from 1.
				if after < before {
					t.Errorf("count %d after the redeploy, %d before: the volume was not kept", after, before)
				}
			}
			if chk.badLogs != nil {
				// Keep it busy past a few rounds of the server's process
				// maintenance (Apache's runs every second).
				for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
					if err := chk.check(addr); err != nil {
						t.Error(err)
					}
					time.Sleep(200 * time.Millisecond)
				}
				logs, _ := exec.Command("docker", "logs", ctr).CombinedOutput()
				if bad := chk.badLogs.Find(logs); bad != nil {
					t.Errorf("container log shows %q:\n%s", bad, logs)
				}
			}
			if h := m.Healthcheck; h != nil {
				probe := h.Command
				if h.HTTP != nil {
					probe = []string{m.Init + "/bin/nd-init", "probe-http", strconv.Itoa(h.HTTP.Port), h.HTTP.Path}
				}
				out, err := exec.Command("docker", append([]string{"exec", ctr}, probe...)...).CombinedOutput()
				if err != nil {
					logs, _ := exec.Command("docker", "logs", ctr).CombinedOutput()
					t.Errorf("healthcheck %q in the container: %v\n%s\ncontainer log:\n%s", probe, err, out, logs)
				}
			}
		})
	}
}

var containerSeq int

// waitFor retries check for 20 s, failing with the container's log.
func waitFor(t *testing.T, ctr string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", ctr).CombinedOutput()
			t.Fatalf("%v\ncontainer log:\n%s", err, logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// counterValue reads the supervisord example's count, -1 if unavailable.
func counterValue(t *testing.T, addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/cgi-bin/count")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(body)), "count "))
	if err != nil {
		return -1
	}
	return n
}

// runManifest starts a container of m and removes it, its image and its
// volumes when the test ends.
func runManifest(t *testing.T, m *manifest.Manifest) string {
	t.Helper()
	tag := fmt.Sprintf("nd-test-%s:%d-%d", m.Name, os.Getpid(), containerSeq+1)
	containerSeq++
	ctr := fmt.Sprintf("nd-test-%s-%d-%d", m.Name, os.Getpid(), containerSeq)
	var tarball bytes.Buffer
	if err := etcTar(&tarball, m.Etc); err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("ENTRYPOINT %s", jsonList(m.Entrypoint))
	imp := exec.Command("docker", "import", "--change", ep, "-", tag)
	imp.Stdin = &tarball
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	args := []string{"run", "-d", "--name", ctr, "-v", "/nix/store:/nix/store:ro"}
	for _, kv := range manifest.SortedEnv(m.Env) {
		args = append(args, "-e", kv)
	}
	for _, p := range m.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		args = append(args, "-p", fmt.Sprintf("127.0.0.1::%d/%s", p.Container, proto))
	}
	var vols []string
	for _, v := range m.Volumes {
		vol := fmt.Sprintf("nd-test-%d-%s", os.Getpid(), manifest.VolumeName(m.Name, v.Name))
		vols = append(vols, vol)
		args = append(args, "-v", vol+":"+v.Path)
	}
	if m.User != "" {
		args = append(args, "--user", m.User)
	}
	if m.WorkDir != "" {
		args = append(args, "-w", m.WorkDir)
	}
	args = append(args, tag)
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", ctr).Run()
		for _, v := range vols {
			exec.Command("docker", "volume", "rm", v).Run()
		}
	})
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	return ctr
}

func publishedAddr(t *testing.T, ctr string, port int) string {
	t.Helper()
	out, err := exec.Command("docker", "port", ctr, strconv.Itoa(port)).Output()
	if err != nil {
		t.Fatalf("docker port %s %d: %v", ctr, port, err)
	}
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "127.0.0.1:") {
			return l
		}
	}
	t.Fatalf("docker port %s %d: no 127.0.0.1 address in %q", ctr, port, out)
	return ""
}

func jsonList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// etcTar writes the image's only layer: /etc from the manifest's etc
// directory (real files), /tmp and an empty /nix/store mount point.
func etcTar(w io.Writer, etc string) error {
	tw := tar.NewWriter(w)
	dirs := []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}, {"nix/", 0o755}, {"nix/store/", 0o755}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}); err != nil {
			return err
		}
	}
	err := filepath.Walk(etc, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == etc {
			return err
		}
		rel, _ := filepath.Rel(etc, p)
		if fi.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "etc/" + rel + "/", Mode: 0o755})
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/" + rel, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

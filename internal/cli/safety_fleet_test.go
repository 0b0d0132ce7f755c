package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
)

// writeConfig writes a config.nix with body into a fresh directory named
// after the app (its default docker.name) and returns its path.
func writeConfig(t *testing.T, app, body string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), app)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.nix")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// leavesNothing checks the droplet holds nothing of app: no container,
// image, volume, GC roots, state or secrets.
func (e *deployEnv) leavesNothing(t *testing.T, app string) {
	t.Helper()
	for _, what := range [][]string{
		{"ps", "-aq", "--filter", "label=nd.app=" + app},
		{"images", "-q", "--filter", "label=nd.app=" + app},
		{"volume", "ls", "-q", "--filter", "label=nd.app=" + app},
	} {
		if out := e.docker(t, what...); out != "" {
			t.Errorf("docker %s lists %q, want nothing of app %s", strings.Join(what[:2], " "), out, app)
		}
	}
	for _, p := range []string{"/nix/var/nix/gcroots/nd-agent/" + app, "/var/lib/nd-agent/apps/" + app} {
		if _, err := e.d.Exec(context.Background(), "test", "-e", p); err == nil {
			out, _ := e.d.Exec(context.Background(), "find", p)
			t.Errorf("%s is on the droplet after a refused or failed first deploy:\n%s", p, out)
		}
	}
}

// webApp is a config serving "hi" on port (a number) published as ports
// (a Nix list), with extra spliced in.
const webApp = `{ pkgs, lib, ... }: {
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p %d -h ${pkgs.runCommand "www" { } "mkdir $out; echo hi > $out/index.html"}";
  docker.ports = %s;
  %s
}
`

// TestBadInputsRefused pushes the inputs of issue 10 that used to pass the
// build and fail late or silently wrong, on one droplet: each is refused
// with an error naming it, and a refused or failed first deploy leaves
// nothing on the host.
func TestBadInputsRefused(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	ctx := context.Background()
	host := e.d.Name
	refused := func(t *testing.T, app, config string, wants ...string) {
		t.Helper()
		var code int
		var errOut string
		if strings.HasSuffix(app, "-image") {
			code, _, errOut = e.push(t, "-b", host, config)
		} else {
			code, _, errOut = e.push(t, host, config)
		}
		if code != 1 {
			t.Fatalf("push of %s exited %d, want 1", app, code)
		}
		mustContain(t, "nd-push's error", errOut, wants...)
		e.leavesNothing(t, app)
	}

	t.Run("etc links to the host's shadow file", func(t *testing.T) {
		cfg := writeConfig(t, "shadow", fmt.Sprintf(webApp, 8201, "[ 8201 ]",
			`nd.etc = lib.mkForce (pkgs.runCommand "evil-etc" { } "mkdir $out; ln -s /etc/shadow $out/shadow");`))
		refused(t, "shadow", cfg, `leads to "/etc/shadow": out of the store`)
	})
	t.Run("host port twice", func(t *testing.T) {
		cfg := writeConfig(t, "twice", fmt.Sprintf(webApp, 8202, `[ 8202 "8202:80" ]`, ""))
		refused(t, "twice", cfg, "docker.ports: host port 8202/tcp is published twice")
	})
	t.Run("volume path out of its root", func(t *testing.T) {
		cfg := writeConfig(t, "updir", fmt.Sprintf(webApp, 8203, "[ 8203 ]", `docker.volumes = { etc = "/../../etc"; };`))
		refused(t, "updir", cfg, `docker.volumes: volume "etc" at "/../../etc"`)
	})
	t.Run("volume at the store", func(t *testing.T) {
		cfg := writeConfig(t, "store", fmt.Sprintf(webApp, 8204, "[ 8204 ]", `docker.volumes = { s = "/nix/store"; };`))
		refused(t, "store", cfg, `docker.volumes: volume "s" at "/nix/store"`)
	})
	t.Run("env name holding an equals sign", func(t *testing.T) {
		cfg := writeConfig(t, "envkey", fmt.Sprintf(webApp, 8205, "[ 8205 ]", `docker.env."B=C" = "d";`))
		refused(t, "envkey", cfg, `docker.env."B=C"`)
	})
	t.Run("env file of 11 MB", func(t *testing.T) {
		cfg := writeConfig(t, "bigenv", fmt.Sprintf(webApp, 8206, "[ 8206 ]", `docker.environmentFiles = [ "big.env" ];`))
		big := "A=" + strings.Repeat("x", 11<<20) + "\n"
		if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "big.env"), []byte(big), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, "bigenv", cfg, "big.env", "the limit is 1048576 (1 MiB)")
	})
	t.Run("failed first deploy with a secret and a volume", func(t *testing.T) {
		cfg := writeConfig(t, "crash", fmt.Sprintf(webApp, 8207, "[ 8207 ]", `
  docker.environmentFiles = [ "s.env" ];
  docker.volumes = [ "/data" ];
  supervisord.services.migrate = { command = "${pkgs.busybox}/bin/busybox false"; oneshot = true; };`))
		if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "s.env"), []byte("TOKEN=s3cr3t\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, "crash", cfg, "crash")
	})
	t.Run("failed first image-mode deploy", func(t *testing.T) {
		cfg := writeConfig(t, "crash-image", fmt.Sprintf(webApp, 8209, "[ 8209 ]", `
  docker.environmentFiles = [ "s.env" ];
  supervisord.services.migrate = { command = "${pkgs.busybox}/bin/busybox false"; oneshot = true; };`))
		if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "s.env"), []byte("TOKEN=s3cr3t\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, "crash-image", cfg, "crash-image")
	})
	t.Run("port held by another app", func(t *testing.T) {
		web := writeConfig(t, "web", fmt.Sprintf(webApp, 8208, "[ 8208 ]", ""))
		if code, _, _ := e.push(t, host, web); code != 0 {
			t.Fatalf("deploying web exited %d", code)
		}
		other := writeConfig(t, "other", fmt.Sprintf(webApp, 8208, "[ 8208 ]", ""))
		refused(t, "other", other, "port 8208 is held by app web")
		if got := get(t, "http://"+e.d.Addr+":8208/"); got == "" {
			t.Errorf("web answered nothing after the refused deploy")
		}
	})
	t.Run("non-root login without sudo", func(t *testing.T) {
		if out, err := e.d.Exec(ctx, "sh", "-c", "useradd -M -d /var/lib/nosudo -s /bin/sh -p '*' nosudo"); err != nil {
			t.Fatalf("adding user nosudo: %v\n%s", err, out)
		}
		code, _, errOut := e.nd(t, ctx, "status", "nosudo@"+host)
		if code != 1 {
			t.Fatalf("status as nosudo exited %d, want 1", code)
		}
		mustContain(t, "nd-push's error", errOut, "sudo -n failed")
	})
}

// whoApp serves /data on port; its first start writes name into
// /data/who. vol is its one volume's name (mounted at /data).
func whoApp(t *testing.T, name, vol string, port int, version string) string {
	t.Helper()
	return writeConfig(t, name+"-"+version, fmt.Sprintf(`{ pkgs, ... }: {
  docker.name = "%[1]s";
  docker.volumes = { "%[2]s" = "/data"; };
  docker.ports = [ %[3]d ];
  supervisord.services.init = { command = "${pkgs.runtimeShell} -c '[ -e /data/who ] || echo %[1]s > /data/who'"; oneshot = true; };
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p %[3]d -h /data";
  docker.env.VERSION = "%[4]s";
}
`, name, vol, port, version))
}

// TestNamesOnHost: apps whose names used to collide on the host — volumes
// of "vc" + "x-data" and "vc-x" + "data", the temporary containers of "w"
// and the apps "w.new" and "w.prev" — keep to their own.
func TestNamesOnHost(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	ctx := context.Background()
	host := e.d.Name
	who := func(port int) string {
		return strings.TrimSpace(get(t, fmt.Sprintf("http://%s:%d/who", e.d.Addr, port)))
	}
	deploy := func(cfg string) {
		t.Helper()
		if code, _, _ := e.push(t, host, cfg); code != 0 {
			t.Fatalf("push of %s exited %d", cfg, code)
		}
	}

	t.Run("volumes of lookalike apps", func(t *testing.T) {
		deploy(whoApp(t, "vc", "x-data", 8301, "v1"))
		deploy(whoApp(t, "vc-x", "data", 8302, "v1"))
		if got := who(8302); got != "vc-x" {
			t.Fatalf("app vc-x sees /data/who = %q, want vc-x: it shares a volume with vc", got)
		}
		if code, _, _ := e.nd(t, ctx, "rm", "--volumes", "--yes", host, "vc"); code != 0 {
			t.Fatalf("rm --volumes vc exited %d", code)
		}
		if got := who(8302); got != "vc-x" {
			t.Errorf("after rm --volumes vc, app vc-x sees /data/who = %q", got)
		}
		deploy(whoApp(t, "vc-x", "data", 8302, "v2"))
		if got := who(8302); got != "vc-x" {
			t.Errorf("after rm --volumes vc and a redeploy, app vc-x sees /data/who = %q, want its data kept", got)
		}
	})
	t.Run("temporary names are no app's", func(t *testing.T) {
		deploy(whoApp(t, "w.new", "data", 8311, "v1"))
		deploy(whoApp(t, "w.prev", "data", 8312, "v1"))
		deploy(whoApp(t, "w", "data", 8313, "v1"))
		deploy(whoApp(t, "w", "data", 8313, "v2"))
		if code, _, _ := e.nd(t, ctx, "rm", "--volumes", "--yes", host, "w"); code != 0 {
			t.Fatalf("rm --volumes w exited %d", code)
		}
		for port, app := range map[int]string{8311: "w.new", 8312: "w.prev"} {
			if got := who(port); got != app {
				t.Errorf("after two deploys and rm of w, app %s answers %q", app, got)
			}
			if st := e.docker(t, "inspect", "-f", "{{.State.Status}}", "nd-"+app); st != "running" {
				t.Errorf("container nd-%s is %s, want running", app, st)
			}
		}
	})
}

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

var pushedRE = regexp.MustCompile(`pushed \S+: ([0-9.]+ (?:B|KiB|MiB|GiB)) sent of`)

// TestBuildPushToRegistry pushes the app's image with `nd-push build -b
// --push` to Debian's docker-registry (the reference registry) running on
// a droplet's address; an update sends only its new layers, and the
// droplet's dockerd (insecure-registries set for that address) pulls the
// image and runs it with plain `docker run`, as any OCI runtime would.
func TestBuildPushToRegistry(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "docker-registry", "nix-build", "dockerd")
	bins := testutil.BuildBinaries(t, "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	d := fleet.ForTest(t, 1, fleet.Options{})[0]
	ctx := context.Background()
	addr := d.Addr + ":5000"
	cfg := "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/nd-test/registry\nhttp:\n  addr: " + addr + "\n"
	if err := os.MkdirAll(d.Path("/var/lib/nd-test/registry"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path("/var/lib/nd-test/registry.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, "registry", "docker-registry", "serve", "/var/lib/nd-test/registry.yml"); err != nil {
		t.Fatal(err)
	}
	// The droplet's dockerd may pull from that plain-HTTP address.
	dj := filepath.Join(d.StateDir(), "daemon.json")
	b, err := os.ReadFile(dj)
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	conf["insecure-registries"] = []string{addr}
	b, _ = json.Marshal(conf)
	if err := os.WriteFile(dj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.RestartDocker(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	push := func(version string) (string, string) {
		t.Helper()
		var out, errb strings.Builder
		ref := addr + "/nd/upd:" + version
		var code int
		for i := 0; i < 50; i++ { // the registry may still be starting
			out.Reset()
			errb.Reset()
			code = Run(ctx, []string{"build", "-b", "--push", ref, "--insecure", versionedApp(t, dir, version, "")}, &out, &errb)
			if code == 0 || !strings.Contains(errb.String(), "connection refused") {
				break
			}
		}
		t.Logf("nd-push build -b --push %s -> %d\n%s%s", ref, code, out.String(), errb.String())
		if code != 0 {
			t.Fatalf("pushing %s exited %d: %s", ref, code, errb.String())
		}
		m := pushedRE.FindStringSubmatch(errb.String())
		if m == nil {
			t.Fatalf("no 'pushed' line in %q", errb.String())
		}
		return strings.TrimSpace(out.String()), m[1]
	}
	digest1, sent1 := push("v1")
	digest2, sent2 := push("v2")
	t.Logf("pushed v1 (%s sent), then v2 (%s sent)", sent1, sent2)
	if strings.HasSuffix(sent2, "MiB") || strings.HasSuffix(sent2, "GiB") || !strings.HasSuffix(sent1, "MiB") {
		t.Errorf("v2 push sent %s, v1 %s: want the update to send only its small new layers", sent2, sent1)
	}
	if !strings.HasPrefix(digest1, addr+"/nd/upd@sha256:") || digest1 == digest2 {
		t.Errorf("pushed digests %q, %q", digest1, digest2)
	}
	docker := func(args ...string) string {
		t.Helper()
		out, err := d.Exec(ctx, append([]string{"docker", "-H", "unix:///run/docker.sock"}, args...)...)
		if err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("pull", digest2)
	// The app's docker.volumes are the runner's to mount (here an anonymous
	// volume), as on Kubernetes, Nomad or Swarm.
	docker("run", "-d", "--name", "from-registry", "-p", "8090:8090", "-v", "/data", digest2)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := d.Exec(context.Background(), "sh", "-c", "docker -H unix:///run/docker.sock logs from-registry 2>&1; docker -H unix:///run/docker.sock ps -a; docker -H unix:///run/docker.sock inspect -f '{{json .State}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.ExposedPorts}}' from-registry")
			t.Logf("the container's output:\n%s", out)
		}
		d.Exec(context.Background(), "docker", "-H", "unix:///run/docker.sock", "rm", "-f", "-v", "from-registry")
	})
	if got := strings.TrimSpace(get(t, "http://"+d.Addr+":8090/cgi-bin/info")); got != "v2 v2" {
		t.Errorf("the pulled image answered %q, want v2 v2", got)
	}
}

package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/testutil"
)

// binaryCache is a signed file:// binary cache served over HTTP on the
// droplet's link, as a cache in the droplet's datacenter would be.
type binaryCache struct {
	dir, secretKey, publicKey, url string
}

func newBinaryCache(t *testing.T, name, listenAddr string) *binaryCache {
	t.Helper()
	dir := t.TempDir()
	c := &binaryCache{dir: filepath.Join(dir, "cache"), secretKey: filepath.Join(dir, "sk")}
	pk := filepath.Join(dir, "pk")
	if out, err := exec.Command("nix-store", "--generate-binary-cache-key", name, c.secretKey, pk).CombinedOutput(); err != nil {
		t.Fatalf("generating cache key: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(pk)
	c.publicKey = strings.TrimSpace(string(data))
	os.MkdirAll(c.dir, 0o755)
	ln, err := net.Listen("tcp", net.JoinHostPort(listenAddr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(c.dir))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.url = "http://" + ln.Addr().String()
	return c
}

// add copies paths (with their closures), signed, into the cache.
func (c *binaryCache) add(t *testing.T, paths ...string) {
	t.Helper()
	args := append([]string{"--extra-experimental-features", "nix-command", "copy", "--to", "file://" + c.dir + "?secret-key=" + c.secretKey}, paths...)
	if out, err := exec.Command("nix", args...).CombinedOutput(); err != nil {
		t.Fatalf("nix copy to the cache: %v\n%s", err, out)
	}
}

// dropNAR deletes the NAR file of p from the cache, leaving its narinfo:
// the cache then announces p and fails to serve it.
func (c *binaryCache) dropNAR(t *testing.T, p string) {
	t.Helper()
	hash, _, _ := strings.Cut(strings.TrimPrefix(p, "/nix/store/"), "-")
	info, err := os.ReadFile(filepath.Join(c.dir, hash+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(info), "\n") {
		if u, ok := strings.CutPrefix(l, "URL: "); ok {
			if err := os.Remove(filepath.Join(c.dir, u)); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no URL in the narinfo of %s:\n%s", p, info)
}

// substApp writes a config whose closure holds a 4 MB blob of its own
// (random, so no store has it), builds it and returns the config, the
// package and the blob's store path.
func substApp(t *testing.T, name string) (cfg, pkg, blob string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	os.MkdirAll(dir, 0o755)
	cfg = filepath.Join(dir, "config.nix")
	nonce := fmt.Sprintf("%d-%s", os.Getpid(), t.Name())
	os.WriteFile(cfg, []byte(`{ pkgs, ... }:
let blob = pkgs.runCommand "`+name+`-blob" { nonce = "`+nonce+`"; } "mkdir -p $out; head -c 4000000 /dev/urandom > $out/blob";
in {
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p 8080 -h ${blob}";
  system.build.blob = blob;
}
`), 0o644)
	built, err := nixbuild.Build(context.Background(), nixbuild.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	pkg = built.Path
	refs, err := exec.Command("nix-store", "--query", "--requisites", pkg).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(refs)) {
		if strings.HasSuffix(p, "-"+name+"-blob") {
			blob = p
		}
	}
	if blob == "" {
		t.Fatalf("no %s-blob in the closure of %s", name, pkg)
	}
	return cfg, pkg, blob
}

// TestPushSubstitutes: the droplet's Nix fetches from the binary caches of
// its own configuration (NIX_CONFIG here) what they hold with a trusted
// signature, and only the rest crosses SSH; a cache signed with a key the
// droplet does not trust gives nothing; --no-substitute sends everything.
func TestPushSubstitutes(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "nix-build", "nix-store", "nix", "dockerd", "sshd")
	bins := testutil.BuildBinaries(t, "nd-agent", "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	d := fleet.ForTest(t, 1, fleet.Options{Nix: true})[0]
	trusted := newBinaryCache(t, "nd-test-trusted", d.HostAddr)
	untrusted := newBinaryCache(t, "nd-test-untrusted", d.HostAddr)

	agentBin := "/var/lib/nd-test/nd-agent"
	copyFile(t, bins["nd-agent"], d.Path(agentBin), 0o755)
	nixConfig := "substituters = " + trusted.url + " " + untrusted.url + "\ntrusted-public-keys = " + trusted.publicKey
	if err := d.Start(context.Background(), "nd-agent", "env", "NIX_CONFIG="+nixConfig, agentBin, "serve"); err != nil {
		t.Fatal(err)
	}
	root, _ := testutil.ModuleRoot()
	e := &deployEnv{d: d, bins: map[string]string{"nd-agent@droplet": agentBin}, root: root}
	e.waitAgent(t)
	sentPaths := func(out string) int {
		var n int
		if i := strings.Index(out, "(host-store mode, "); i >= 0 {
			fmt.Sscanf(out[i+len("(host-store mode, "):], "%d paths", &n)
		}
		return n
	}

	// Everything of the first app is in the untrusted cache only: the
	// droplet must refuse it and take all of it over SSH.
	// (Content-addressed paths, such as nd-init's directory, need no
	// signature: Nix checks them by their hash, so those may come.)
	cfg1, pkg1, blob1 := substApp(t, "subst-one")
	untrusted.add(t, pkg1)
	code, _, _ := e.push(t, d.Name, cfg1)
	if code != 0 {
		t.Fatalf("deploy of subst-one exited %d", code)
	}
	if sigs := e.sigs(t, blob1); strings.Contains(sigs, "nd-test-untrusted:") {
		t.Errorf("the droplet took %s signed with an untrusted key: %s", blob1, sigs)
	}

	// The second app's blob is in the trusted cache: it comes from there,
	// and only the rest crosses SSH.
	cfg2, _, blob2 := substApp(t, "subst-two")
	trusted.add(t, blob2)
	code, out, _ := e.push(t, d.Name, cfg2)
	if code != 0 {
		t.Fatalf("deploy of subst-two exited %d", code)
	}
	if !strings.Contains(out, "1 paths from the host's substituters") {
		t.Errorf("deploy of subst-two said %q; want 1 path substituted (the blob)", out)
	}
	sent2 := sentPaths(out)
	if sigs := e.sigs(t, blob2); !strings.Contains(sigs, "nd-test-trusted:") {
		t.Errorf("%s on the droplet has signatures %q; want the trusted cache's (it came from there)", blob2, sigs)
	}
	// The app's own paths, which refer to the blob, were sent while the
	// droplet fetched it.
	if log, _ := os.ReadFile(d.LogFile("nd-agent")); !strings.Contains(string(log), "substituting in the background: asked=") {
		t.Errorf("the agent did not substitute in the background; its log:\n%s", log)
	}
	// The deploy's image was prepared while the closure arrived (nd-push's
	// head start), and the deploy ran it without pulling it again.
	if log, _ := os.ReadFile(d.LogFile("nd-agent")); !strings.Contains(string(log), "image prepared: app=subst-two ") ||
		strings.Count(string(log), "tag=nd/subst-two:") != 1 {
		t.Errorf("want the image of subst-two prepared and pulled once; the agent's log:\n%s", log)
	}

	// A cache that announces a path it then cannot serve (its NAR file is
	// gone): Nix plans to fetch it and fails, and the path comes from the
	// laptop, as do the app's paths that refer to it.
	cfg4, _, blob4 := substApp(t, "subst-four")
	trusted.add(t, blob4)
	trusted.dropNAR(t, blob4)
	code, out, _ = e.push(t, d.Name, cfg4)
	if code != 0 {
		t.Fatalf("deploy of subst-four (its blob's NAR missing from the cache) exited %d: %s", code, out)
	}
	if sigs := e.sigs(t, blob4); strings.Contains(sigs, "nd-test-trusted:") {
		t.Errorf("%s came from the cache, which lacks its NAR (signatures %s)", blob4, sigs)
	}
	if sentPaths(out) != sent2+1 || strings.Contains(out, "from the host's substituters") {
		t.Errorf("deploy of subst-four said %q; want %d paths sent (the blob too) and none substituted", out, sent2+1)
	}

	// --no-substitute: the third app (built like the second) has its blob
	// in the trusted cache too, but it is sent with the rest.
	cfg3, _, blob3 := substApp(t, "subst-three")
	trusted.add(t, blob3)
	code, out, _ = e.push(t, "--no-substitute", d.Name, cfg3)
	if sigs := e.sigs(t, blob3); strings.Contains(sigs, "nd-test-trusted:") {
		t.Errorf("with --no-substitute, %s came from the cache (signatures %s)", blob3, sigs)
	}
	if code != 0 {
		t.Fatalf("deploy of subst-three exited %d", code)
	}
	if strings.Contains(out, "substituters") || sentPaths(out) != sent2+1 {
		t.Errorf("deploy --no-substitute said %q; want nothing substituted and %d paths sent (one more than with substitutes)", out, sent2+1)
	}
}

// sigs are the signatures the droplet's store holds for p: a path that came
// from a binary cache keeps the cache's, one imported from nd-push has none.
func (e *deployEnv) sigs(t *testing.T, p string) string {
	t.Helper()
	out, err := e.d.Exec(context.Background(), "nix", "--extra-experimental-features", "nix-command", "path-info", "--sigs", p)
	if err != nil {
		t.Fatalf("nix path-info --sigs %s on the droplet: %v\n%s", p, err, out)
	}
	return strings.TrimSpace(string(out))
}

package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/portswitch"
	"github.com/nd-project/nd/internal/testutil"
)

// TestPushFromModernNix deploys a flake from a laptop with the Nix users
// have today to a droplet with Debian 12's Nix 2.8, in host-store mode and
// then in image mode. A modern droplet (Nix 2.34) stands in for the
// laptop: nd-push runs in it, so the flake's locking and evaluation, the
// build and the export are Nix 2.34's and the import is Nix 2.8's. The
// laptop reaches the target's sshd through a forwarder on its loopback.
func TestPushFromModernNix(t *testing.T) {
	bins, root := deployBins(t)
	ndPush := testutil.BuildBinaries(t, "nd-push")["nd-push"]
	lib := testutil.RequireNixpkgsLib(t)
	e := startDeployEnv(t, fleet.Options{Nix: true}, bins, root)
	lap := fleet.ForTest(t, 1, fleet.Options{Kind: fleet.Modern, Nix: true, NoDocker: true})[0]
	ctx := context.Background()

	out, err := lap.Exec(ctx, "nix", "--version")
	if err != nil || !strings.Contains(string(out), "2.34") {
		t.Fatalf("the laptop's Nix: %q, %v; want Nix 2.34", out, err)
	}
	// The laptop's nd-push and nd-init, nd's flake and the nixpkgs lib,
	// the user's flake, and what ssh needs for the target.
	for src, dst := range map[string]string{ndPush: "/usr/local/bin/nd-push", bins["nd-init"]: "/usr/local/bin/nd-init",
		e.d.ClientKeyFile(): "/root/ssh/key", filepath.Join(root, "flake.nix"): "/root/nd/flake.nix"} {
		if err := lap.CopyIn(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{filepath.Join(root, "modules"): "/root/nd/modules", lib: "/root/nixpkgs-lib"} {
		if err := os.CopyFS(lap.Path(dst), os.DirFS(src)); err != nil {
			t.Fatalf("copying %s into the laptop: %v", src, err)
		}
	}
	testutil.WriteExampleFlake(t, lap.Path("/root/app"), "/root/nd", "/root/nixpkgs-lib")
	port := forwardSSH(t, lap, e.d.Addr+":22")
	name := strings.SplitN(strings.Fields(e.d.HostKeyLine())[0], ",", 2)[0]
	files := map[string]string{
		"/root/ssh/known_hosts": e.d.HostKeyLine() + "\n",
		"/root/ssh/config": fmt.Sprintf(`Host target
	HostName 127.0.0.1
	Port %d
	HostKeyAlias %s
	User root
	IdentityFile /root/ssh/key
	IdentitiesOnly yes
	UserKnownHostsFile /root/ssh/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
`, port, name),
	}
	for p, data := range files {
		if err := os.WriteFile(lap.Path(p), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	push := func(args ...string) string {
		t.Helper()
		// (cd: the laptop's Nix needs a working directory that exists
		// in it.)
		argv := append([]string{"sh", "-c", `cd /root && exec "$@"`, "sh", "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root",
			"ND_INIT=/usr/local/bin/nd-init",
			// Nothing looked up on the network: no registry, no cache.
			"NIX_CONFIG=flake-registry = \nsubstituters = \n",
			"nd-push", "-F", "/root/ssh/config", "--agent-path", e.bins["nd-agent@droplet"]}, args...)
		out, err := lap.Exec(ctx, argv...)
		t.Logf("nd-push %s on the laptop:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("nd-push %s on the laptop: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	url := "http://" + e.d.Addr + ":8080/"
	mustContain(t, "host-store deploy", push("target", "/root/app#hello"), "hello deployed generation 1 (host-store mode")
	if body := get(t, url); !strings.Contains(body, "hello from an nd flake") {
		t.Fatalf("app answered %q, want hello from an nd flake", body)
	}
	pkg := e.docker(t, "inspect", "-f", `{{index .Config.Labels "nd.package"}}`, "nd-hello")
	if out, err := e.d.Exec(ctx, "nix-store", "--verify-path", pkg); err != nil {
		t.Fatalf("the droplet's Nix 2.8 does not verify %s: %v %s", pkg, err, out)
	}
	mustContain(t, "image-mode deploy", push("-b", "target", "/root/app#hello"), "hello deployed generation 2 (image mode")
	if body := get(t, url); !strings.Contains(body, "hello from an nd flake") {
		t.Fatalf("in image mode the app answered %q, want hello from an nd flake", body)
	}
}

// forwardSSH listens on the loopback of droplet d and forwards each
// connection to addr (dialled from the test's side), until the test ends;
// it returns the port.
func forwardSSH(t *testing.T, d *fleet.Droplet, addr string) int {
	t.Helper()
	l, err := d.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					t.Logf("forwarding to %s: %v", addr, err)
					return
				}
				defer up.Close()
				portswitch.Pipe(c.(*net.TCPConn), up.(*net.TCPConn))
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

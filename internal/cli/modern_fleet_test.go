package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/nixcmd"
	"github.com/nd-project/nd/internal/testutil"
)

var anySentRE = regexp.MustCompile(`\((image|host-store) mode, \d+ paths / ([0-9.]+) (B|KiB|MiB|GiB) sent`)

// pushSent reads the mode and bytes nd-push's result line reports.
func pushSent(t testing.TB, out string) (string, int64) {
	t.Helper()
	m := anySentRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no result line in %q", out)
	}
	f, _ := strconv.ParseFloat(m[2], 64)
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[3]]
	return m[1], int64(f * mult)
}

// newModernEnv is newDeployEnv for a modern droplet, safe in parallel
// tests (ND_INIT is the same binary for every test of this process).
func newModernEnv(t *testing.T, opts fleet.Options) *deployEnv {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "nix-build", "nix-store")
	testutil.Require(t, fleet.RootfsReady() == nil, fmt.Sprint(fleet.RootfsReady()))
	bins := testutil.BuildBinaries(t, "nd-agent", "nd-init")
	os.Setenv("ND_INIT", bins["nd-init"])
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	opts.Kind = fleet.Modern
	d := fleet.ForTest(t, 1, opts)[0]
	agentBin := "/var/lib/nd-test/nd-agent"
	copyFile(t, bins["nd-agent"], d.Path(agentBin), 0o755)
	bins["nd-agent@droplet"] = agentBin
	if err := d.Start(context.Background(), "nd-agent", agentBin, "serve"); err != nil {
		t.Fatalf("starting nd-agent in %s: %v", d.Name, err)
	}
	e := &deployEnv{d: d, bins: bins, root: root}
	e.waitAgent(t)
	return e
}

// TestModernMatrix deploys, updates and rolls back on modern droplets
// (systemd, Docker 28.5, Nix 2.34) with Docker's containerd image store on
// and off, in host-store mode (droplet with Nix) and image mode (droplet
// without Nix). An update must send under 5 % of the cold deploy's bytes.
func TestModernMatrix(t *testing.T) {
	for _, tc := range []struct {
		name       string
		containerd bool
		nix        bool
		layout     fleet.NixLayout
		mode       string
	}{
		{"classic/host-store", false, true, fleet.NixDebian, "host-store"},
		// A droplet like a fresh one from a cloud: the containerd store
		// and Nix from the official installer (only under
		// /nix/var/nix/profiles/default/bin, beside nix-daemon).
		{"containerd/host-store/installer-nix", true, true, fleet.NixInstaller, "host-store"},
		{"classic/image", false, false, "", "image"},
		{"containerd/image", true, false, "", "image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newModernEnv(t, fleet.Options{ContainerdStore: tc.containerd, Nix: tc.nix, NixLayout: tc.layout})
			ctx := context.Background()
			info := e.docker(t, "info", "--format", "{{json .DriverStatus}}")
			if uses := strings.Contains(info, "io.containerd.snapshotter"); uses != tc.containerd {
				t.Fatalf("dockerd driver status %s; want the containerd store %v", info, tc.containerd)
			}
			dir := t.TempDir()
			url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
			code, out1, errOut := e.push(t, e.d.Name, versionedApp(t, dir, "v1", ""))
			if code != 0 {
				log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
				t.Fatalf("cold deploy exited %d: %s\nagent log:\n%s", code, errOut, log)
			}
			mode, cold := pushSent(t, out1)
			if mode != tc.mode {
				t.Errorf("deployed in %s mode, want %s", mode, tc.mode)
			}
			if !tc.nix {
				// No silent fallback: the push says where it looked.
				for _, w := range append([]string{"image mode (host has no usable Nix: nix-store not found on PATH"}, nixcmd.InstallerBinDirs...) {
					if !strings.Contains(errOut, w) {
						t.Errorf("nd-push said %q, want it to mention %q", errOut, w)
					}
				}
			}
			if tc.layout == fleet.NixInstaller {
				if out, err := e.d.Exec(ctx, "sh", "-c", "command -v nix-store || ls /usr/bin/nix* 2>/dev/null || true"); err != nil || strings.TrimSpace(string(out)) != "" {
					t.Errorf("the installer-layout droplet has nix tools on PATH or in /usr/bin: %q %v", out, err)
				}
			}
			if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
				t.Fatalf("v1 answered %q", got)
			}
			code, out2, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v2", ""))
			if code != 0 {
				log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
				t.Fatalf("update exited %d; agent log:\n%s", code, log)
			}
			_, upd := pushSent(t, out2)
			t.Logf("%s: cold deploy sent %d bytes, update %d bytes (%.3f %%)", tc.name, cold, upd, 100*float64(upd)/float64(cold))
			if upd*20 >= cold {
				t.Errorf("the update sent %d bytes, the cold deploy %d: want under 5 %%", upd, cold)
			}
			if got := strings.TrimSpace(get(t, url)); got != "v2 v1" {
				t.Fatalf("after the update the app answered %q, want v2 v1", got)
			}
			if code, _, _ := e.push(t, e.d.Name, versionedApp(t, dir, "v2", "")); code != 0 {
				t.Errorf("no-op redeploy exited %d", code)
			}
			if code, out, _ := e.nd(t, ctx, "rollback", e.d.Name, "upd"); code != 0 || !strings.Contains(out, "generation 3") {
				t.Fatalf("rollback exited %d: %q", code, out)
			}
			if got := strings.TrimSpace(get(t, url)); got != "v1 v1" {
				t.Fatalf("after the rollback the app answered %q, want v1 v1", got)
			}
			// The registry's names of pulled images are dropped again.
			if names := e.docker(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(names, "127.0.0.1") {
				t.Errorf("dockerd keeps the agent registry's names: %s", names)
			}
			if code, out, _ := e.nd(t, ctx, "status", e.d.Name); code != 0 || !strings.Contains(out, "running") {
				t.Errorf("status exited %d: %q", code, out)
			}
			// A reboot on the same disk: dockerd brings the container
			// back from its own store (classic or containerd) and the
			// agent, started again as its unit would be, routes the
			// ports; nothing is pushed.
			if err := e.d.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.d.Start(ctx, "nd-agent", e.bins["nd-agent@droplet"], "serve"); err != nil {
				t.Fatalf("starting nd-agent after the reboot: %v", err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				if got, err := tryGet(url); err == nil && strings.TrimSpace(got) == "v1 v1" {
					break
				} else if time.Now().After(deadline) {
					log, _ := os.ReadFile(e.d.LogFile("nd-agent"))
					t.Fatalf("60 s after the reboot the app answered %q (%v), want v1 v1; agent log:\n%s", got, err, log)
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	}
}

// tryGet fetches url once, with a short timeout, for loops that wait on an
// app without failing the test at the first refusal.
func tryGet(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("status %s", resp.Status)
	}
	return string(body), err
}

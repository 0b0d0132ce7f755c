package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// TestPushInventoryOneHostDown pushes to three hosts listed in a --hosts
// file, one of which has its sshd stopped: the other two deploy, the table
// names the failure, and nd-push exits 1.
func TestPushInventoryOneHostDown(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "nix-build", "nix-store", "dockerd", "sshd")
	bins := testutil.BuildBinaries(t, "nd-agent", "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	up := fleet.ForTest(t, 2, fleet.Options{Nix: true})
	down := fleet.ForTest(t, 1, fleet.Options{NoDocker: true})[0]
	ctx := context.Background()
	agentBin := "/var/lib/nd-test/nd-agent"
	for _, d := range up {
		copyFile(t, bins["nd-agent"], d.Path(agentBin), 0o755)
		if err := d.Start(ctx, "nd-agent", agentBin, "serve"); err != nil {
			t.Fatalf("starting nd-agent in %s: %v", d.Name, err)
		}
		(&deployEnv{d: d, bins: bins, root: root}).waitAgent(t)
	}
	if err := down.Stop(ctx, "sshd"); err != nil {
		t.Fatalf("stopping sshd of %s: %v", down.Name, err)
	}

	dir := t.TempDir()
	var sshConfig []byte
	for _, d := range append(up, down) {
		b, err := os.ReadFile(d.SSHConfig())
		if err != nil {
			t.Fatal(err)
		}
		sshConfig = append(append(sshConfig, b...), '\n')
	}
	cfgFile := filepath.Join(dir, "ssh_config")
	inventory := filepath.Join(dir, "hosts")
	hosts := "# the fleet\n" + up[0].Name + "\n\n" + down.Name + "   # sshd stopped\n" + up[1].Name + "\n"
	for p, data := range map[string][]byte{cfgFile: sshConfig, inventory: []byte(hosts)} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	args := []string{"-F", cfgFile, "--agent-path", agentBin, "--hosts", inventory, filepath.Join(root, "examples", "hello", "config.nix")}
	code := Run(ctx, args, &out, &errb)
	t.Logf("nd-push %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	if code != 1 {
		t.Errorf("push with one host down exited %d, want 1", code)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rows[f[0]] = l
		}
	}
	for _, d := range up {
		if r := rows[d.Name]; !strings.Contains(r, " ok ") {
			t.Errorf("row of %s = %q, want ok", d.Name, r)
		}
		if body := get(t, "http://"+d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
			t.Errorf("%s answered %q", d.Name, body)
		}
	}
	if r := rows[down.Name]; !strings.Contains(r, "FAILED") {
		t.Errorf("row of %s = %q, want FAILED and why", down.Name, r)
	}
	if !strings.Contains(errb.String(), "1 of 3 hosts failed") {
		t.Errorf("stderr %q, want 1 of 3 hosts failed", errb.String())
	}

	// The same hosts in a project file: `deploy --on @web` deploys only the
	// web deployment (no-op now), leaving out the host that is down.
	project := filepath.Join(dir, "nd.nix")
	os.WriteFile(project, []byte(`{
  deployments.hello = { hosts = [ "`+up[0].Name+`" "`+up[1].Name+`" ]; tags = [ "web" ]; configuration = `+filepath.Join(root, "examples", "hello")+`; };
  deployments.broken = { hosts = [ "`+down.Name+`" ]; tags = [ "db" ]; configuration = `+filepath.Join(root, "examples", "hello")+`; };
}
`), 0o644)
	out.Reset()
	errb.Reset()
	args = []string{"deploy", "-F", cfgFile, "--agent-path", agentBin, "--project", project, "--on", "@web"}
	code = Run(ctx, args, &out, &errb)
	t.Logf("nd-push %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	if code != 0 || strings.Count(out.String(), " unchanged ") != 2 || strings.Contains(out.String(), down.Name) {
		t.Errorf("deploy --on @web exited %d: %q, want both web hosts unchanged and not %s", code, out.String(), down.Name)
	}
	if !strings.Contains(errb.String(), "deployment hello: ") {
		t.Errorf("stderr %q, want the deployment named", errb.String())
	}
	if code := Run(ctx, []string{"deploy", "--project", project, "--on", "@nothing"}, &out, &errb); code != ExitUsage {
		t.Errorf("deploy --on @nothing exited %d, want 2", code)
	}
}

package cli

import (
	"bytes"
	"context"
	"debug/elf"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

// TestInstallAgent installs nd-agent on a droplet that, like many small
// hosts and containers, has no systemd: without --no-systemd it refuses and
// says why; with it the agent runs detached, serves a deploy, and a second
// install upgrades it in place while the app keeps running.
func TestInstallAgent(t *testing.T) {
	testutil.RequireRoot(t)
	bins := testutil.BuildBinaries(t, "nd-agent", "nd-init")
	t.Setenv("ND_INIT", bins["nd-init"])
	d := fleet.ForTest(t, 1, fleet.Options{Nix: true})[0]
	dest := "/var/lib/nd-test/bin/nd-agent" // the droplet shares /usr/local with this machine
	install := func(extra ...string) (int, string, string) {
		var out, errb bytes.Buffer
		args := append([]string{"install-agent", "-F", d.SSHConfig(), "--agent-binary", bins["nd-agent"], "--dest", dest}, extra...)
		args = append(args, d.Name)
		code := Run(context.Background(), args, &out, &errb)
		t.Logf("nd-push %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		return code, out.String(), errb.String()
	}

	code, _, errOut := install()
	if code != 1 || !strings.Contains(errOut, "systemd") || !strings.Contains(errOut, "--no-systemd") {
		t.Fatalf("install on a host without systemd: exit %d, %q; want 1 and advice to use --no-systemd", code, errOut)
	}
	if _, err := d.Exec(context.Background(), "test", "-e", dest); err == nil {
		t.Errorf("the refused install left %s behind", dest)
	}

	code, out, _ := install("--no-systemd")
	if code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("install --no-systemd: exit %d, %q", code, out)
	}
	e := &deployEnv{d: d, bins: map[string]string{"nd-agent@droplet": dest, "nd-init": bins["nd-init"]}}
	if e.root, _ = testutil.ModuleRoot(); e.root == "" {
		t.Fatal("no module root")
	}
	if code, _, _ := e.push(t, d.Name, e.example("hello")); code != 0 {
		t.Fatalf("deploy after install exited %d", code)
	}
	id := e.docker(t, "inspect", "-f", "{{.Id}}", "nd-hello")
	pid1, _ := d.Exec(context.Background(), "cat", "/run/nd-agent.pid")

	// Upgrade in place: a new agent process, the same app container.
	if code, _, _ := install("--no-systemd"); code != 0 {
		t.Fatalf("re-install exited %d", code)
	}
	pid2, _ := d.Exec(context.Background(), "cat", "/run/nd-agent.pid")
	if strings.TrimSpace(string(pid1)) == strings.TrimSpace(string(pid2)) {
		t.Errorf("re-install kept agent pid %s; want a restarted agent", pid1)
	}
	if got := e.docker(t, "inspect", "-f", "{{.Id}} {{.State.Running}}", "nd-hello"); got != id+" true" {
		t.Errorf("after the agent upgrade the app is %q, want %s running", got, id)
	}
	if body := get(t, "http://"+d.Addr+":8080/"); !strings.Contains(body, "hello from nd") {
		t.Errorf("app answered %q after the upgrade", body)
	}
	if code, out, _ := e.push(t, d.Name, e.example("hello")); code != 0 || !strings.Contains(out, "already running") {
		t.Errorf("push after upgrade: exit %d, %q", code, out)
	}
}

// TestInstallAgentPicksArch: without --agent-binary, install-agent asks the
// droplet's `uname -m` and uploads the nd-agent built for it from beside
// nd-push (here nd-agent-linux-amd64, though a plain nd-agent for arm64
// lies there too); with none for it, it says where it looked and changes
// nothing on the host.
func TestInstallAgentPicksArch(t *testing.T) {
	testutil.RequireRoot(t)
	bins := testutil.BuildBinaries(t, "nd-agent")
	d := fleet.ForTest(t, 1, fleet.Options{Nix: true})[0]
	dest := "/var/lib/nd-test/bin/nd-agent"
	install := func(dir string) (error, string) {
		var out, errb bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errb, Log: hclog.NewNullLogger()}
		o := &installOptions{Dest: dest, NoSystemd: true, Target: d.Name, searchDir: dir}
		fs := pflag.NewFlagSet("install-agent", pflag.ContinueOnError)
		o.ssh.register(fs) // the flags' defaults
		if err := fs.Parse([]string{"-F", d.SSHConfig()}); err != nil {
			t.Fatal(err)
		}
		err := runInstallAgent(context.Background(), env, o)
		t.Logf("install-agent from %s: %v\n%s%s", dir, err, out.String(), errb.String())
		return err, errb.String()
	}

	onlyArm := t.TempDir()
	writeELF(t, filepath.Join(onlyArm, "nd-agent"), elf.EM_AARCH64)
	err, _ := install(onlyArm)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(onlyArm, "nd-agent")+" (built for linux/arm64)") ||
		!strings.Contains(err.Error(), "nd-agent-linux-amd64 (missing)") {
		t.Errorf("install with only an arm64 agent = %v, want the paths looked at and what they were", err)
	}
	if _, err := d.Exec(context.Background(), "test", "-e", dest); err == nil {
		t.Errorf("the refused install left %s behind", dest)
	}

	dir := t.TempDir()
	writeELF(t, filepath.Join(dir, "nd-agent"), elf.EM_AARCH64)
	copyFile(t, bins["nd-agent"], filepath.Join(dir, "nd-agent-linux-amd64"), 0o755)
	err, stderr := install(dir)
	if err != nil {
		t.Fatalf("install-agent: %v", err)
	}
	if want := "uploading " + filepath.Join(dir, "nd-agent-linux-amd64"); !strings.Contains(stderr, want) || !strings.Contains(stderr, "x86_64") {
		t.Errorf("install-agent said %q, want %q for the host's x86_64", stderr, want)
	}
}

package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/testutil"
)

func testEnv(out, errw io.Writer) *Env {
	return &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: errw, Log: hclog.NewNullLogger()}
}

// resolve says which command args run: cobra's choice, and for the root
// whether the shorthand takes them as a deploy.
func resolve(t *testing.T, args []string) (string, error) {
	t.Helper()
	root := newRootCmd(testEnv(io.Discard, io.Discard))
	c, rest, err := root.Find(args)
	if err != nil {
		return "", err
	}
	if err := c.ParseFlags(rest); err != nil {
		return "", err
	}
	if c != root {
		return c.Name(), nil
	}
	if err := shorthand(root, c.Flags().Args()); err != nil {
		return "", err
	}
	return "deploy", nil
}

// TestGrammarTraps holds the command lines a trial tripped over, and the
// shorthand's rules.
func TestGrammarTraps(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, nil, 0o644)
	app := filepath.Join(dir, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "config.nix"), []byte("{ }"), 0o644)
	tests := []struct {
		args    []string
		want    string // the command run
		wantErr string // or the error
	}{
		{args: []string{"-F", cfg, "status", "droplet"}, want: "status"},
		{args: []string{"status", "-F", cfg, "droplet"}, want: "status"},
		{args: []string{"status", "droplet", "-F", cfg}, want: "status"},
		{args: []string{"--ssh-config=" + cfg, "-p", "2222", "logs", "droplet", "web"}, want: "logs"},
		{args: []string{"-o", "User=root", "rm", "droplet", "web"}, want: "rm"},
		{args: []string{"stauts", "droplet"}, wantErr: `unknown command "stauts"; did you mean "status"?`},
		{args: []string{"rolback", "droplet", "web"}, wantErr: `did you mean "rollback"?`},
		{args: []string{"droplet", "nothing-here"}, wantErr: `"nothing-here" is no config`},
		{args: []string{"droplet", app}, want: "deploy"},
		{args: []string{"-F", cfg, "droplet", "web2", app}, want: "deploy"},
		{args: []string{"droplet", "config.nix"}, want: "deploy"},
		{args: []string{"droplet", ".#web"}, want: "deploy"},
		{args: []string{"status", "droplet", "--", "-x"}, want: "status"},
		{args: []string{"-b", "droplet", "/nix/store/00000000000000000000000000000000-nd-x"}, want: "deploy"},
		{args: []string{"deploy", "droplet", app, "-b"}, want: "deploy"},
		{args: []string{"status", "--bogus", "droplet"}, wantErr: "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		got, err := resolve(t, tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("nd-push %q = %s, %v; want error %q", tt.args, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("nd-push %q runs %q (%v), want %s", tt.args, got, err, tt.want)
		}
	}
}

// TestRunExitCodes checks exit codes and messages through Run: usage
// errors are 2 and name the fix; `--` ends flags.
func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{args: []string{"stauts", "droplet"}, code: ExitUsage, stderr: `did you mean "status"?`},
		{args: nil, code: ExitUsage, stderr: "missing arguments"},
		{args: []string{"status"}, code: ExitUsage, stderr: "want HOST [APP], got 0 arguments"},
		{args: []string{"logs", "h", "a", "--since", "yesterday"}, code: ExitUsage, stderr: "--since"},
		{args: []string{"logs", "h", "a", "--tail", "-3"}, code: ExitUsage, stderr: "want a number of lines or all"},
		// After --, "-b" is an argument (the old parser took it as a flag).
		{args: []string{"build", "--", "-b"}, code: ExitFailure, stderr: "-b"},
		{args: []string{"version"}, code: ExitOK, stdout: "nd-push dev (agent protocol"},
		{args: []string{"--version"}, code: ExitOK, stdout: "nd-push dev (agent protocol"},
		{args: []string{"rm", "--volumes", "h", "a"}, code: ExitUsage, stderr: "pass --yes"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Run(context.Background(), tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.stderr) || !strings.Contains(out.String(), tt.stdout) {
			t.Errorf("nd-push %q exited %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out.String(), errb.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}

// TestInterrupted: a run ended by Ctrl-C exits 130 with one line.
func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	// The host is never reached: the dial sees the cancelled context.
	code := Run(ctx, []string{"status", "-o", "ConnectTimeout=1", "127.0.0.1"}, &out, &errb)
	if code != ExitInterrupted || errb.String() != "nd-push: interrupted\n" {
		t.Errorf("interrupted run exited %d, stderr %q; want 130 and one line", code, errb.String())
	}
}

// allCommands is every command of the tree, root first.
func allCommands(root *cobra.Command) []*cobra.Command {
	res := []*cobra.Command{root}
	for _, c := range root.Commands() {
		res = append(res, allCommands(c)...)
	}
	return res
}

// TestHelpGolden: every command's --help exits 0 and prints what
// testdata/help.golden holds (refresh with -update).
func TestHelpGolden(t *testing.T) {
	var all bytes.Buffer
	for _, c := range allCommands(newRootCmd(testEnv(io.Discard, io.Discard))) {
		if c.Hidden || c.Name() == "__complete" || c.Name() == "__completeNoDesc" {
			continue
		}
		path := strings.Fields(c.CommandPath())[1:]
		var out, errb bytes.Buffer
		if code := Run(context.Background(), append(path, "--help"), &out, &errb); code != 0 || errb.Len() > 0 || out.Len() == 0 {
			t.Errorf("nd-push %s --help exited %d, stderr %q", strings.Join(path, " "), code, errb.String())
		}
		all.WriteString("=== " + c.CommandPath() + " --help\n")
		all.Write(out.Bytes())
	}
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(golden, all.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != all.String() {
		t.Errorf("help differs from %s (go test ./internal/cli -run TestHelpGolden -update to accept):\n%s", golden, all.String())
	}
}

// TestFlagHelp: booleans show no value, every other flag names its value in
// words (FILE, PORT), never a Go type, and no help text names a Go type.
func TestFlagHelp(t *testing.T) {
	goTypes := map[string]bool{"string": true, "int": true, "stringArray": true, "strings": true, "bool": true,
		"duration": true, "int64": true, "uint": true, "float64": true, "value": true}
	for _, c := range allCommands(newRootCmd(testEnv(io.Discard, io.Discard))) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			name, usage := pflag.UnquoteUsage(f)
			isBool := f.Value.Type() == "bool"
			switch {
			case isBool && name != "":
				t.Errorf("%s --%s is boolean but its help shows a value %q", c.CommandPath(), f.Name, name)
			case !isBool && (name == "" || goTypes[name]):
				t.Errorf("%s --%s shows its value as %q; name it in backquotes", c.CommandPath(), f.Name, name)
			case strings.Contains(usage, "JSON for") || strings.Contains(usage, "StatusJSON"):
				t.Errorf("%s --%s help names a Go type: %q", c.CommandPath(), f.Name, usage)
			}
		})
	}
}

// TestCompletion: the scripts load in their shells, and completing a
// command name works through cobra's __complete.
func TestCompletion(t *testing.T) {
	testutil.RequireCommands(t, "bash")
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), []string{"completion", sh}, &out, &errb); code != 0 || out.Len() == 0 {
			t.Fatalf("completion %s exited %d: %s", sh, code, errb.String())
		}
		file := filepath.Join(t.TempDir(), "nd-push."+sh)
		os.WriteFile(file, out.Bytes(), 0o644)
		// Each shell loads the script and then shows nd-push's completion.
		check := map[string]string{
			"bash": "source " + file + " && complete -p nd-push",
			"zsh":  "autoload -U compinit && compinit -u && source " + file + " && print -r -- ${_comps[nd-push]}",
			"fish": "source " + file + "; complete -c nd-push",
		}[sh]
		if sh != "bash" {
			testutil.RequireCommands(t, sh) // setup.sh installs zsh and fish
		}
		o, err := exec.Command(sh, "-c", check).CombinedOutput()
		if err != nil || !strings.Contains(string(o), "nd-push") && !strings.Contains(string(o), "_nd-push") {
			t.Errorf("%s does not load the completion script: %v\n%s", sh, err, o)
		}
	}
	var out bytes.Buffer
	Run(context.Background(), []string{"__complete", "sta"}, &out, io.Discard)
	if got := out.String(); !strings.Contains(got, "status") || !strings.Contains(got, "start") || strings.Contains(got, "logs") {
		t.Errorf("completing sta = %q, want start and status only", got)
	}
	out.Reset()
	Run(context.Background(), []string{"__complete", "logs", "--t"}, &out, io.Discard)
	if got := out.String(); !strings.Contains(got, "--tail") || !strings.Contains(got, "--timestamps") {
		t.Errorf("completing logs --t = %q, want --tail and --timestamps", got)
	}
}

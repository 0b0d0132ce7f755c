package nixbuild_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/nixcmd"
	"github.com/nd-project/nd/internal/testutil"
	"github.com/nd-project/nd/modules"
)

// TestOfflinePkgs builds each trivial builder of modules/pkgs and checks what
// it made.
func TestOfflinePkgs(t *testing.T) {
	requireNix(t)
	dir, err := modules.Extract(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(t.TempDir(), "bb")
	os.MkdirAll(filepath.Join(bb, "bin"), 0o755)
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no /bin/busybox: %v", err)
	}
	os.WriteFile(filepath.Join(bb, "bin", "busybox"), data, 0o755)
	os.Symlink("busybox", filepath.Join(bb, "bin", "sh"))
	expr := `let p = import ` + dir + `/pkgs { busybox = ` + bb + `; }; in
p.linkFarm "all" {
  text = p.writeText "t" "hello\n";
  textdir = p.writeTextDir "share/doc/x.txt" "doc";
  script = p.writeScript "s" "#!${p.runtimeShell}\necho script";
  shell = p.writeShellScript "sh" "echo shell";
  shellbin = p.writeShellScriptBin "hi" "echo hi $1";
  scriptbin = p.writeScriptBin "sb" "#!${p.runtimeShell}\necho sb";
  cmd = p.runCommand "c" { FOO = "bar"; nativeBuildInputs = [ (p.writeShellScriptBin "tool" "echo tool") ]; } "mkdir $out; echo $FOO > $out/foo; tool > $out/tool";
  join = p.symlinkJoin { name = "j"; paths = [ (p.writeShellScriptBin "a" "echo a") (p.writeShellScriptBin "b" "echo b") ]; };
}`
	var out, errb bytes.Buffer
	err = nixcmd.Runner(nil).Run(context.Background(), &out, &errb, "nix-build", "--no-out-link", "--option", "substituters", "", "-E", expr)
	if err != nil {
		t.Fatalf("nix-build: %v\n%s", err, errb.String())
	}
	farm := strings.TrimSpace(out.String())
	run := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", args, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(farm, p))
		if err != nil {
			t.Error(err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, c := range []struct{ got, want string }{
		{read("text"), "hello"},
		{read("textdir/share/doc/x.txt"), "doc"},
		{run(filepath.Join(farm, "script")), "script"},
		{run(filepath.Join(farm, "shell")), "shell"},
		{run(filepath.Join(farm, "shellbin/bin/hi"), "there"), "hi there"},
		{run(filepath.Join(farm, "scriptbin/bin/sb")), "sb"},
		{read("cmd/foo"), "bar"},
		{read("cmd/tool"), "tool"},
		{run(filepath.Join(farm, "join/bin/a")), "a"},
		{run(filepath.Join(farm, "join/bin/b")), "b"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// recorder runs commands for real and remembers their arguments.
type recorder struct{ calls [][]string }

func (r *recorder) runner() nixcmd.Runner {
	return func(ctx context.Context, name string, args ...string) *exec.Cmd {
		r.calls = append(r.calls, append([]string{name}, args...))
		return nixcmd.Exec(ctx, name, args...)
	}
}

// TestRunnerArgs: offline builds turn substituters off; builds with nixpkgs
// pass it as --arg nixpkgs and leave substituters alone.
func TestRunnerArgs(t *testing.T) {
	requireNix(t)
	config := filepath.Join(repoRoot(t), "examples", "hello", "config.nix")
	r := &recorder{}
	if _, err := build(t, config, func(o *nixbuild.Options) { o.Runner = r.runner() }); err != nil {
		t.Fatal(err)
	}
	args := strings.Join(r.calls[0], " ")
	if r.calls[0][0] != "nix-build" || !strings.Contains(args, "--option substituters  ") || strings.Contains(args, "--arg nixpkgs") {
		t.Errorf("offline nix-build args: %q", r.calls[0])
	}
	// A stand-in full nixpkgs: nixpkgs' lib and a default.nix (whose pkgs
	// lack what the example needs; only the arguments matter here).
	np := t.TempDir()
	os.Symlink(filepath.Join(testutil.RequireNixpkgsLib(t), "lib"), filepath.Join(np, "lib"))
	os.WriteFile(filepath.Join(np, "default.nix"), []byte("{ ... }: { }"), 0o644)
	r.calls = nil
	build(t, config, func(o *nixbuild.Options) { o.Runner = r.runner(); o.Offline = false; o.NixpkgsPath = np })
	if len(r.calls) == 0 {
		t.Fatal("nix-build did not run with a stand-in nixpkgs")
	}
	args = strings.Join(r.calls[0], " ")
	if !strings.Contains(args, "--arg nixpkgs "+np) || !strings.Contains(args, "--arg lib "+np+"/lib") || strings.Contains(args, "substituters") {
		t.Errorf("nix-build args with nixpkgs: %q", r.calls[0])
	}
}

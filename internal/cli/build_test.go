package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

func TestBuildUsage(t *testing.T) {
	for _, args := range [][]string{
		{"build"},
		{"build", "a.nix", "b.nix"},
		{"build", "-I", "foo=/x", "a.nix"},
		{"build", "--bogus", "a.nix"},
		{"build", "--push", "reg.example:5000/app:v1", "a.nix"},   // --push needs -b
		{"build", "-b", "--push", "Bad Ref!", "a.nix"},            // not a reference
		{"build", "-b", "--insecure", "-o", "app.tar", "a.nix"},   // --insecure needs --push
		{"build", "-b", "a.nix"},                                  // -b needs -o or --push
		{"build", "-b", "--oci", "--push", "reg/app:v1", "a.nix"}, // --oci writes a file
	} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), args, &out, &errb); code != ExitUsage {
			t.Errorf("Run(%q) = %d, want %d (usage); stderr:\n%s", args, code, ExitUsage, errb.String())
		}
	}
}

func TestBuildFlags(t *testing.T) {
	o := &buildOptions{}
	fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse([]string{"-o", "res", "cfg.nix", "-I", "nixpkgs=/np", "--offline"}); err != nil {
		t.Fatal(err)
	}
	if o.OutLink != "res" || o.Nixpkgs != "/np" || !o.Offline || !cmp.Equal(fs.Args(), []string{"cfg.nix"}) {
		t.Errorf("build flags = %+v, args %q", o, fs.Args())
	}
}

// TestBuildCommand runs `nd-push build -o LINK` on the hello example with
// nixpkgs' lib (the snapshot on NIX_PATH) and the offline pkgs: it prints the package's store path, LINK points at it, and
// a broken config exits 1 with Nix's message.
func TestBuildCommand(t *testing.T) {
	testutil.RequireCommands(t, "nix-build")
	t.Setenv("ND_INIT", "/bin/busybox") // any static executable builds
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("NIX_PATH", "nixpkgs="+testutil.RequireNixpkgsLib(t))
	link := filepath.Join(t.TempDir(), "result")
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"build", "-o", link, "../../examples/hello/config.nix"}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("nd-push build = %d, stderr:\n%s", code, errb.String())
	}
	path := strings.TrimSpace(out.String())
	if !strings.HasPrefix(path, "/nix/store/") || strings.Contains(path, "\n") {
		t.Fatalf("nd-push build printed %q, want one store path", out.String())
	}
	if target, err := os.Readlink(link); err != nil || target != path {
		t.Errorf("out link -> %q (%v), want %s", target, err, path)
	}
	if m, err := manifest.Load(path); err != nil || m.Name != "hello" {
		t.Errorf("manifest.Load(%s) = %+v, %v; want app hello", path, m, err)
	}

	bad := filepath.Join(t.TempDir(), "config.nix")
	os.WriteFile(bad, []byte(`{ ... }: { docker.ports = [ "http" ]; }`), 0o644)
	out.Reset()
	errb.Reset()
	if code := Run(context.Background(), []string{"build", bad}, &out, &errb); code != ExitFailure {
		t.Fatalf("nd-push build of a bad config = %d, want %d", code, ExitFailure)
	}
	for _, want := range []string{"docker.ports", bad, "is not of type"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "goroutine") {
		t.Errorf("stderr has a Go trace:\n%s", errb.String())
	}
}

// TestDeployConnectsDuringTheBuild: nd-push connects to the hosts while the
// package builds (dialAhead), but a bad config is still what the user hears
// about, whatever the hosts do; a host that cannot be reached is reported
// once the build succeeded.
func TestDeployConnectsDuringTheBuild(t *testing.T) {
	testutil.RequireCommands(t, "nix-build")
	t.Setenv("ND_INIT", "/bin/busybox")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("NIX_PATH", "nixpkgs="+testutil.RequireNixpkgsLib(t))
	sshConfig := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(sshConfig, nil, 0o644)
	// Port 1 on loopback: refused at once.
	const host = "root@127.0.0.1:1"

	bad := filepath.Join(t.TempDir(), "config.nix")
	os.WriteFile(bad, []byte(`{ ... }: { docker.ports = [ "http" ]; }`), 0o644)
	var out, errb bytes.Buffer
	defer func() { t.Logf("last stderr:\n%s", errb.String()) }()
	if code := Run(context.Background(), []string{"-F", sshConfig, host, bad}, &out, &errb); code != ExitFailure {
		t.Fatalf("deploying a bad config = %d, want %d; stderr:\n%s", code, ExitFailure, errb.String())
	}
	if !strings.Contains(errb.String(), "is not of type") || strings.Contains(errb.String(), "127.0.0.1") {
		t.Errorf("deploying a bad config to an unreachable host: stderr should name the config's error and not the host:\n%s", errb.String())
	}

	out.Reset()
	errb.Reset()
	if code := Run(context.Background(), []string{"-F", sshConfig, host, "../../examples/hello/config.nix"}, &out, &errb); code != ExitFailure {
		t.Fatalf("deploying to an unreachable host = %d, want %d; stderr:\n%s", code, ExitFailure, errb.String())
	}
	for _, want := range []string{"package /nix/store/", "127.0.0.1", "refused"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("deploying to an unreachable host: stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

package nixbuild_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden expected.json files of modules/tests/modules")

// requireNix skips (or fails under ND_TEST_REQUIRE_ALL=1) without Nix.
func requireNix(t *testing.T) {
	t.Helper()
	testutil.RequireCommands(t, "nix-build", "nix-store")
}

// repoRoot is the module root (two levels up from this package).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// ndInit returns a static nd-init: the real one when cmd/nd-init exists,
// else a stand-in static executable (busybox) that is enough to build.
func ndInit(t *testing.T) (path string, real bool) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repoRoot(t), "cmd", "nd-init", "main.go")); err == nil {
		return testutil.BuildBinaries(t, "nd-init")["nd-init"], true
	}
	return "/bin/busybox", false
}

// cacheDir is shared by the tests of one run so the modules and the
// nd-init/busybox directories are written once.
var sharedCache string

func build(t *testing.T, config string, mod func(*nixbuild.Options)) (string, error) {
	t.Helper()
	init, _ := ndInit(t)
	if sharedCache == "" {
		dir, err := os.MkdirTemp("", "nd-nixbuild-test-")
		if err != nil {
			t.Fatal(err)
		}
		sharedCache = dir
	}
	opts := nixbuild.Options{Config: config, NDInit: init, CacheDir: sharedCache, Offline: true}
	if mod != nil {
		mod(&opts)
	}
	pkg, err := nixbuild.Build(context.Background(), opts)
	if err != nil {
		return "", err
	}
	return pkg.Path, nil
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if sharedCache != "" {
		os.RemoveAll(sharedCache)
	}
	os.Exit(code)
}

var storeHash = regexp.MustCompile(`/nix/store/[0-9a-z]{32}-`)

// normalise makes a built file comparable across Nix inputs: store hashes
// and the test directory are replaced by placeholders.
func normalise(s, dir string) string {
	s = storeHash.ReplaceAllString(s, "/nix/store/HASH-")
	return strings.ReplaceAll(s, dir, "$CASE")
}

func readJSON(t *testing.T, path, dir string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(normalise(string(data), dir)), &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestModules builds every case of modules/tests/modules on the offline
// evaluator: a case with want-error.txt must fail with an error containing
// each of its lines; the others must match their golden expected.json
// (manifest, processes file, passwd and group, store hashes masked).
func TestModules(t *testing.T) {
	requireNix(t)
	cases, err := filepath.Glob(filepath.Join(repoRoot(t), "modules", "tests", "modules", "*", "config.nix"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no test cases found: %v", err)
	}
	for _, config := range cases {
		dir := filepath.Dir(config)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "want-error.txt"))
			wantErr := err == nil
			var mod func(*nixbuild.Options)
			if extra := filepath.Join(dir, "extra-pkgs.nix"); fileExists(extra) {
				mod = func(o *nixbuild.Options) { o.ExtraPkgs = extra }
			}
			pkg, err := build(t, config, mod)
			if wantErr {
				if err == nil {
					t.Fatalf("Build succeeded (%s), want an error", pkg)
				}
				msg := err.Error()
				if strings.Contains(msg, "goroutine ") || strings.Contains(msg, ".go:") {
					t.Errorf("error looks like a Go trace:\n%s", msg)
				}
				for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
					if !strings.Contains(msg, line) {
						t.Errorf("error lacks %q:\n%s", line, msg)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			m, err := manifest.Load(pkg)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{
				"manifest":  readJSON(t, filepath.Join(pkg, manifest.FileName), dir),
				"processes": readJSON(t, m.ProcessesFile, dir),
			}
			for _, f := range []string{"passwd", "group"} {
				data, err := os.ReadFile(filepath.Join(m.Etc, f))
				if err != nil {
					t.Fatal(err)
				}
				got[f] = strings.Split(strings.TrimSpace(string(data)), "\n")
			}
			golden := filepath.Join(dir, "expected.json")
			if *update {
				data, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(golden, append(data, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var wantV any
			data, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if err := json.Unmarshal(data, &wantV); err != nil {
				t.Fatal(err)
			}
			// Round-trip got through JSON so both sides have the same types.
			gotData, _ := json.Marshal(got)
			var gotV any
			json.Unmarshal(gotData, &gotV)
			if d := cmp.Diff(wantV, gotV); d != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestSamePath: the same config gives the same store path, also from a
// fresh module cache; a one-character change gives another.
func TestSamePath(t *testing.T) {
	requireNix(t)
	config := filepath.Join(repoRoot(t), "examples", "hello", "config.nix")
	p1, err := build(t, config, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := build(t, config, func(o *nixbuild.Options) { o.CacheDir = t.TempDir() })
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Errorf("same config built twice: %s, then %s", p1, p2)
	}
	p3, err := build(t, config, func(o *nixbuild.Options) { o.Name = "hello2" })
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 {
		t.Errorf("another default name gave the same path %s", p3)
	}
}

// TestExamplesBuild: every examples/*/config.nix builds offline into a valid
// manifest whose closure holds every store path it names.
func TestExamplesBuild(t *testing.T) {
	requireNix(t)
	configs, _ := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*", "config.nix"))
	if len(configs) < 3 {
		t.Fatalf("want at least 3 examples, found %d", len(configs))
	}
	for _, config := range configs {
		name := filepath.Base(filepath.Dir(config))
		t.Run(name, func(t *testing.T) {
			pkg, err := build(t, config, exampleOptions(t, name))
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Load(pkg)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != name {
				t.Errorf("name = %q, want the directory's %q", m.Name, name)
			}
			closure, err := (&nixstore.Store{}).Requisites(context.Background(), pkg)
			if err != nil {
				t.Fatal(err)
			}
			in := map[string]bool{}
			for _, p := range closure {
				in[p] = true
			}
			for _, p := range append([]string{m.Init, m.ProcessesFile, m.Etc}, m.Entrypoint...) {
				top := storeTop(p)
				if !in[top] {
					t.Errorf("%s is not in the closure of %s", top, pkg)
				}
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func storeTop(p string) string {
	parts := strings.SplitN(strings.TrimPrefix(p, "/nix/store/"), "/", 2)
	return "/nix/store/" + parts[0]
}

// TestClosureOrder: nix-store -qR lists dependencies before their referrers
// (the package itself last), the order nix-store --import needs.
func TestClosureOrder(t *testing.T) {
	requireNix(t)
	pkg, err := build(t, filepath.Join(repoRoot(t), "examples", "systemd", "config.nix"), nil)
	if err != nil {
		t.Fatal(err)
	}
	closure, err := (&nixstore.Store{}).Requisites(context.Background(), pkg)
	if err != nil {
		t.Fatal(err)
	}
	if closure[len(closure)-1] != pkg {
		t.Errorf("closure's last path = %s, want the package %s", closure[len(closure)-1], pkg)
	}
	pos := map[string]int{}
	for i, p := range closure {
		pos[p] = i
	}
	for _, p := range closure {
		out, err := exec.Command("nix-store", "--query", "--references", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range strings.Fields(string(out)) {
			if r != p && pos[r] > pos[p] {
				t.Errorf("%s comes after %s, which refers to it", r, p)
			}
		}
	}
}

// TestLibOnlyNixpkgs: a nixpkgs.lib checkout given as --nixpkgs (its root
// or its lib/) means that lib with nd's offline pkgs, the same package as
// with the checkout on NIX_PATH; no nixpkgs at all is refused with where to
// get one, before nix-build runs.
func TestLibOnlyNixpkgs(t *testing.T) {
	requireNix(t)
	libRoot := testutil.RequireNixpkgsLib(t)
	config := filepath.Join(repoRoot(t), "examples", "hello", "config.nix")
	t.Setenv("NIX_PATH", "nixpkgs="+libRoot)
	want, err := build(t, config, func(o *nixbuild.Options) { o.Offline = false })
	if err != nil {
		t.Fatal(err)
	}
	for _, np := range []string{libRoot, filepath.Join(libRoot, "lib")} {
		got, err := build(t, config, func(o *nixbuild.Options) { o.Offline = false; o.NixpkgsPath = np })
		if err != nil || got != want {
			t.Errorf("build with --nixpkgs %s = %s, %v; want %s", np, got, err, want)
		}
	}
	t.Setenv("NIX_PATH", "")
	r := &recorder{}
	_, err = build(t, config, func(o *nixbuild.Options) { o.Runner = r.runner() })
	if !errors.Is(err, nixbuild.ErrNoNixpkgsLib) || !strings.Contains(err.Error(), "nixpkgs.lib") {
		t.Errorf("build without nixpkgs = %v, want ErrNoNixpkgsLib naming nixpkgs.lib", err)
	}
	if len(r.calls) != 0 {
		t.Errorf("nix-build ran without a nixpkgs lib: %q", r.calls)
	}
	_, err = build(t, config, func(o *nixbuild.Options) { o.NixpkgsPath = t.TempDir() })
	if err == nil || !strings.Contains(err.Error(), "no lib/default.nix") {
		t.Errorf("build with an empty --nixpkgs = %v, want an error naming lib/default.nix", err)
	}
}

func TestNixMessage(t *testing.T) {
	stderr := `these 2 derivations will be built:
  /nix/store/aaa-x.drv
building '/nix/store/aaa-x.drv'...
error: getting status of '/x/nothere': No such file or directory

       … while evaluating the attribute 'value'

       at /m/lib/modules.nix:1:1:

       … while evaluating the option ` + "`a.b'" + `:

       … while evaluating definitions from ` + "`/x/config.nix'" + `:
`
	got := nixbuild.NixMessage(stderr)
	want := "error: getting status of '/x/nothere': No such file or directory\n" +
		"       while evaluating the option `a.b':\n" +
		"       while evaluating definitions from `/x/config.nix':"
	if got != want {
		t.Errorf("NixMessage = %q, want %q", got, want)
	}
}

func TestDefaultName(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{"/a/hello/config.nix", "hello"},
		{"/a/My App/config.nix", "my-app"},
		{"/a/_x/config.nix", "x"},
		{"/config.nix", "app"},
		{"/a/--/config.nix", "app"},
	} {
		if got := nixbuild.DefaultName(c.config); got != c.want {
			t.Errorf("DefaultName(%q) = %q, want %q", c.config, got, c.want)
		}
	}
}

func TestNixpkgsFromNixPath(t *testing.T) {
	dir := t.TempDir()
	np := filepath.Join(dir, "nixpkgs")
	os.MkdirAll(filepath.Join(np, "lib"), 0o755)
	os.WriteFile(filepath.Join(np, "lib", "default.nix"), []byte("{}"), 0o644)
	for _, c := range []struct{ nixPath, want string }{
		{"", ""},
		{"nixpkgs=" + np, np},
		{"foo=/x:" + dir, np},
		{"nixpkgs=/does/not/exist", ""},
		{"nixpkgs=https://example.org/x.tar.gz", ""},
	} {
		if got := nixbuild.NixpkgsFromNixPath(c.nixPath); got != c.want {
			t.Errorf("NixpkgsFromNixPath(%q) = %q, want %q", c.nixPath, got, c.want)
		}
	}
}

// TestNixpkgsPlumbing checks the nixpkgs code path of build.nix and
// nixbuild's NIX_PATH / NixpkgsPath resolution with a stand-in "nixpkgs"
// (nixpkgs' lib, nd's offline pkgs plus a marker package: no full nixpkgs
// is available offline).
func TestNixpkgsPlumbing(t *testing.T) {
	requireNix(t)
	root := repoRoot(t)
	np := filepath.Join(t.TempDir(), "nixpkgs")
	bb := filepath.Join(t.TempDir(), "bb")
	os.MkdirAll(filepath.Join(bb, "bin"), 0o755)
	data, err := os.ReadFile("/bin/busybox")
	testutil.Require(t, err == nil, "needs a static /bin/busybox")
	os.WriteFile(filepath.Join(bb, "bin", "busybox"), data, 0o755)
	os.Symlink("busybox", filepath.Join(bb, "bin", "sh"))
	os.MkdirAll(np, 0o755)
	libDir := filepath.Join(testutil.RequireNixpkgsLib(t), "lib")
	if err := os.Symlink(libDir, filepath.Join(np, "lib")); err != nil {
		t.Fatal(err)
	}
	def := `{ system ? builtins.currentSystem, ... }:
(import ` + filepath.Join(root, "modules", "pkgs") + ` { busybox = ` + bb + `; lib = import ./lib; inherit system; })
  // { fakeMarker = "/stand-in-nixpkgs/bin/app"; }
`
	os.WriteFile(filepath.Join(np, "default.nix"), []byte(def), 0o644)
	cfgDir := filepath.Join(t.TempDir(), "marker")
	os.MkdirAll(cfgDir, 0o755)
	config := filepath.Join(cfgDir, "config.nix")
	os.WriteFile(config, []byte(`{ pkgs, ... }: { supervisord.services.a.command = pkgs.fakeMarker; }`), 0o644)

	check := func(t *testing.T, mod func(*nixbuild.Options)) {
		t.Helper()
		pkg, err := build(t, config, mod)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := manifest.Load(pkg)
		data, _ := os.ReadFile(m.ProcessesFile)
		if !strings.Contains(string(data), "/stand-in-nixpkgs/bin/app") {
			t.Errorf("processes file does not use the stand-in nixpkgs: %s", data)
		}
	}
	t.Run("NixpkgsPath", func(t *testing.T) {
		check(t, func(o *nixbuild.Options) { o.Offline = false; o.NixpkgsPath = np })
	})
	t.Run("NIX_PATH", func(t *testing.T) {
		t.Setenv("NIX_PATH", "nixpkgs="+np)
		check(t, func(o *nixbuild.Options) { o.Offline = false })
	})
	t.Run("examples", func(t *testing.T) {
		configs, _ := filepath.Glob(filepath.Join(root, "examples", "*", "config.nix"))
		for _, c := range configs {
			name := filepath.Base(filepath.Dir(c))
			extra := exampleOptions(t, name)
			withNixpkgs, err := build(t, c, func(o *nixbuild.Options) {
				o.Offline = false
				o.NixpkgsPath = np
				if extra != nil {
					extra(o)
				}
			})
			if err != nil {
				t.Errorf("%s with the stand-in nixpkgs: %v", name, err)
				continue
			}
			// Same lib and pkgs, so the same package.
			offline, err := build(t, c, extra)
			if err != nil {
				t.Fatal(err)
			}
			if offline != withNixpkgs {
				t.Errorf("%s: offline build %s, with the stand-in nixpkgs %s", name, offline, withNixpkgs)
			}
		}
	})
	t.Run("offline has no marker", func(t *testing.T) {
		_, err := build(t, config, nil)
		if err == nil || !strings.Contains(err.Error(), "fakeMarker") {
			t.Errorf("offline build = %v, want an error about the missing pkgs.fakeMarker", err)
		}
	})
}

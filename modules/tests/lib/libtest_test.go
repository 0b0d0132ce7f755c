package libtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/testutil"
)

// nixpkgsLibEnv names a nixpkgs lib to compare against: the lib/ directory
// of nixpkgs (or nixpkgs.lib) or the repository root holding it.
const nixpkgsLibEnv = "ND_NIXPKGS_LIB"

// evalResult is what one evaluation of a case produced.
type evalResult struct {
	value  any    // decoded JSON when ok
	stderr string // error text (whitespace-normalised) when !ok
	ok     bool
}

// libCase is one directory under cases/.
type libCase struct {
	name       string
	dir        string
	wantJSON   any      // set when expected.json exists
	wantErrors []string // substrings every evaluator's error must contain
	offlineErr []string // substrings only the offline lib must produce
}

func TestLibCases(t *testing.T) {
	testutil.RequireCommands(t, "nix-instantiate")
	offline, err := filepath.Abs(filepath.Join("..", "..", "lib"))
	if err != nil {
		t.Fatal(err)
	}
	cases := loadCases(t)

	nixpkgsLib, why := nixpkgsLibDir()
	if nixpkgsLib == "" {
		t.Log("##################################################################")
		t.Logf("### NIXPKGS COMPARISON SKIPPED: %s", why)
		t.Logf("### Only the offline lib was checked against expected results.")
		t.Logf("### Set %s=/path/to/nixpkgs.lib (root or its lib/) to compare.", nixpkgsLibEnv)
		t.Log("##################################################################")
	} else {
		t.Logf("comparing every case with nixpkgs lib at %s", nixpkgsLib)
	}

	var matched, differed []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := evalCase(t, offline, c.dir)
			checkExpected(t, c, got)
			if nixpkgsLib == "" {
				return
			}
			ref := evalCase(t, nixpkgsLib, c.dir)
			if compareWithNixpkgs(t, c, got, ref) {
				matched = append(matched, c.name)
			} else {
				differed = append(differed, c.name)
			}
		})
	}
	// A subtest of its own so the skipped comparison shows up as SKIP in
	// `go test -v` and test2json output, not only as a log line. It skips
	// even under ND_TEST_REQUIRE_ALL=1: nixpkgs is never available in CI.
	t.Run("nixpkgs-comparison", func(t *testing.T) {
		if nixpkgsLib == "" {
			t.Skipf("NIXPKGS COMPARISON SKIPPED: %s", why)
		}
		t.Logf("nixpkgs comparison: %d matched %v; %d differed %v", len(matched), matched, len(differed), differed)
	})
}

// nixpkgsLibDir resolves ND_NIXPKGS_LIB to the directory whose default.nix
// is nixpkgs' lib, or says why there is none.
func nixpkgsLibDir() (string, string) {
	root := os.Getenv(nixpkgsLibEnv)
	if root == "" {
		return "", nixpkgsLibEnv + " is not set (nixpkgs is not available offline/in CI)"
	}
	for _, dir := range []string{filepath.Join(root, "lib"), root} {
		if _, err := os.Stat(filepath.Join(dir, "modules.nix")); err == nil {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return "", err.Error()
			}
			return abs, ""
		}
	}
	return "", fmt.Sprintf("%s=%s holds neither modules.nix nor lib/modules.nix", nixpkgsLibEnv, root)
}

func loadCases(t *testing.T) []libCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("cases", "*", "main.nix"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases found under cases/*/main.nix")
	}
	var cases []libCase
	for _, m := range dirs {
		dir, err := filepath.Abs(filepath.Dir(m))
		if err != nil {
			t.Fatal(err)
		}
		c := libCase{name: filepath.Base(dir), dir: dir}
		if b, err := os.ReadFile(filepath.Join(dir, "expected.json")); err == nil {
			if err := json.Unmarshal(b, &c.wantJSON); err != nil {
				t.Fatalf("case %s: decoding expected.json: %v", c.name, err)
			}
		} else if b, err := os.ReadFile(filepath.Join(dir, "expected-error.txt")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.ReplaceAll(line, "@DIR@", dir)
				line = strings.ReplaceAll(line, "@CASES@", filepath.Dir(dir))
				switch {
				case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
				case strings.HasPrefix(line, "offline: "):
					c.offlineErr = append(c.offlineErr, normalize(strings.TrimPrefix(line, "offline: ")))
				default:
					c.wantErrors = append(c.wantErrors, normalize(line))
				}
			}
		} else {
			t.Fatalf("case %s has neither expected.json nor expected-error.txt", c.name)
		}
		cases = append(cases, c)
	}
	return cases
}

// evalCase runs `nix-instantiate --eval --strict --json` on the case with
// the lib in libDir.
func evalCase(t *testing.T, libDir, caseDir string) evalResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	expr := fmt.Sprintf("import %s/main.nix { lib = import %s; }", caseDir, libDir)
	cmd := exec.CommandContext(ctx, "nix-instantiate", "--eval", "--strict", "--json", "-E", expr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		var v any
		if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
			t.Fatalf("decoding result of %s: %v\n%s", expr, err, stdout.String())
		}
		return evalResult{value: v, ok: true}
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		return evalResult{stderr: normalize(stderr.String())}
	default:
		t.Fatalf("running nix-instantiate on %s: %v\n%s", caseDir, err, stderr.String())
		return evalResult{}
	}
}

// normalize collapses whitespace: Nix indents continuation lines of error
// messages, and expected substrings may span lines.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

func checkExpected(t *testing.T, c libCase, got evalResult) {
	t.Helper()
	if c.wantJSON != nil {
		if !got.ok {
			t.Fatalf("offline lib failed, want a value:\n%s", got.stderr)
		}
		if diff := cmp.Diff(c.wantJSON, got.value); diff != "" {
			t.Errorf("offline lib result differs from expected.json (-want +got):\n%s", diff)
		}
		return
	}
	if got.ok {
		t.Fatalf("offline lib succeeded with %v, want an error", got.value)
	}
	for _, want := range append(c.wantErrors, c.offlineErr...) {
		if !strings.Contains(got.stderr, want) {
			t.Errorf("offline lib error lacks %q; error:\n%s", want, got.stderr)
		}
	}
}

// compareWithNixpkgs reports whether nixpkgs' lib agrees with the offline
// lib on the case: equal values, or both failing with errors that name the
// same option, file and wording (the case's shared substrings).
func compareWithNixpkgs(t *testing.T, c libCase, offline, ref evalResult) bool {
	t.Helper()
	if offline.ok != ref.ok {
		t.Errorf("offline ok=%v but nixpkgs ok=%v\noffline: %v%s\nnixpkgs: %v%s",
			offline.ok, ref.ok, offline.value, offline.stderr, ref.value, ref.stderr)
		return false
	}
	if offline.ok {
		if diff := cmp.Diff(ref.value, offline.value); diff != "" {
			t.Errorf("offline lib differs from nixpkgs lib (-nixpkgs +offline):\n%s", diff)
			return false
		}
		return true
	}
	same := true
	for _, want := range c.wantErrors {
		if !strings.Contains(ref.stderr, want) {
			t.Errorf("nixpkgs lib error lacks %q; error:\n%s", want, ref.stderr)
			same = false
		}
	}
	return same
}

// TestNdModulesAgreeWithNixpkgs evaluates nd's modules on each
// configuration under modules/tests/modules with both libs and wants the
// same manifest (or the same error). It only runs where a nixpkgs lib is
// at hand, i.e. never in CI, so it skips (loudly) without failing there.
func TestNdModulesAgreeWithNixpkgs(t *testing.T) {
	testutil.RequireCommands(t, "nix-instantiate")
	nixpkgsLib, why := nixpkgsLibDir()
	if nixpkgsLib == "" {
		t.Skipf("NIXPKGS COMPARISON SKIPPED: %s", why)
	}
	offline, err := filepath.Abs(filepath.Join("..", "..", "lib"))
	if err != nil {
		t.Fatal(err)
	}
	driver, err := filepath.Abs("nd-modules.nix")
	if err != nil {
		t.Fatal(err)
	}
	configs, err := filepath.Glob(filepath.Join("..", "modules", "*", "config.nix"))
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) == 0 {
		t.Skip("no nd module cases under modules/tests/modules")
	}
	// Evaluation only: busybox and nd-init need to exist, not to work.
	tmp := t.TempDir()
	for _, f := range []string{"busybox/bin/busybox", "init/bin/nd-init"} {
		p := filepath.Join(tmp, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(t *testing.T, libDir, config string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nix-instantiate", "--eval", "--strict", "--json", driver,
			"--arg", "libPath", libDir, "--arg", "configuration", config,
			"--arg", "busybox", filepath.Join(tmp, "busybox"), "--arg", "init", filepath.Join(tmp, "init"))
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("running nix-instantiate: %v\n%s", err, out)
		}
		return normalize(string(out))
	}
	var matched, differed []string
	for _, c := range configs {
		config, err := filepath.Abs(c)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(config))
		t.Run(name, func(t *testing.T) {
			got, want := eval(t, offline, config), eval(t, nixpkgsLib, config)
			if got != want {
				differed = append(differed, name)
				t.Errorf("offline lib and nixpkgs lib disagree on %s:\noffline: %s\nnixpkgs: %s", config, got, want)
				return
			}
			matched = append(matched, name)
		})
	}
	t.Logf("nd modules with nixpkgs lib: %d matched %v; %d differed %v", len(matched), matched, len(differed), differed)
}

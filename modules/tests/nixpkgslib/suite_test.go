package nixpkgslib

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/testutil"
)

// knownFailures are the checks of the snapshot's lib/tests/modules.sh
// (nix-community/nixpkgs.lib de42d44, lib 26.11) that fail on Debian 12's
// Nix 2.8, by line, with the reason. Any other failure fails the test.
var knownFailures = map[int]string{
	250: "types.fileset needs builtins.readFileType (newer Nix)",
	251: "types.fileset needs builtins.readFileType (newer Nix)",
	252: "types.fileset needs builtins.readFileType (newer Nix)",
	554: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	556: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	558: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	560: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	563: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	565: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	567: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
	569: "ABORT_ON_WARN needs the abort-on-warn setting (newer Nix)",
}

// baselinePassed is the figure on Debian 12's Nix 2.8 when the snapshot was
// taken; the retired modules/lib passed 265 of the same 407.
const baselinePassed = 396

var (
	passRE   = regexp.MustCompile(`(?m)^(\d+) Pass$`)
	failRE   = regexp.MustCompile(`(?m)^(\d+) Fail$`)
	failedAt = regexp.MustCompile(`TEST FAILED\S* at modules\.sh:(\d+)`)
)

// TestModulesSuite runs lib/tests/modules.sh (one to two minutes on two
// cores) on this machine's Nix (Debian 12's 2.8) and logs "nixpkgs-lib:
// ..." with its figure, which scripts/test.sh repeats at the end of the run.
func TestModulesSuite(t *testing.T) {
	t.Parallel()
	testutil.RequireCommands(t, "nix-instantiate", "bash")
	libRoot := testutil.RequireNixpkgsLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	version, err := exec.CommandContext(ctx, "nix-instantiate", "--version").Output()
	if err != nil {
		t.Fatalf("nix-instantiate --version: %v", err)
	}
	cmd := exec.CommandContext(ctx, "bash", "modules.sh")
	cmd.Dir = filepath.Join(libRoot, "lib", "tests")
	runSuite(t, cmd, strings.TrimSpace(string(version)), knownFailures)
}

// TestModulesSuiteNix234 runs the same suite under Nix 2.34 (a chroot of
// the modern droplets' root filesystem), where every check must pass.
func TestModulesSuiteNix234(t *testing.T) {
	t.Parallel()
	testutil.RequireSidRootfs(t)
	libRoot := testutil.RequireNixpkgsLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tests := filepath.Join(libRoot, "lib", "tests")
	cmd := testutil.SidChroot(ctx, t, []string{libRoot}, nil, "nix --version; cd "+tests+" && bash modules.sh")
	runSuite(t, cmd, "Nix 2.34 (sid chroot)", nil)
}

// runSuite runs modules.sh with cmd, logs its figure and fails on any
// failure not in known.
func runSuite(t *testing.T, cmd *exec.Cmd, nix string, known map[int]string) {
	t.Helper()
	start := time.Now()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run() // non-zero whenever a check fails; the counts tell
	pass, fail := count(passRE, out.String()), count(failRE, out.String())
	if pass < 0 || fail < 0 {
		t.Fatalf("modules.sh printed no Pass/Fail counts (%v):\n%s", runErr, tail(out.String(), 40))
	}
	var unexpected []string
	var lines []int
	for _, m := range failedAt.FindAllStringSubmatch(out.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		lines = append(lines, n)
		if _, ok := known[n]; !ok {
			unexpected = append(unexpected, m[1])
		}
	}
	sort.Ints(lines)
	t.Logf("nixpkgs-lib: lib/tests/modules.sh on %s: %d of %d passed (baseline %d on Nix 2.8; modules/lib, retired: 265) in %.0fs; failed at lines %v",
		nix, pass, pass+fail, baselinePassed, time.Since(start).Seconds(), lines)
	for _, n := range lines {
		if why, ok := known[n]; ok {
			t.Logf("  modules.sh:%d: %s", n, why)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("modules.sh failed at lines %v, which are not known failures of this Nix:\n%s", unexpected, tail(out.String(), 60))
	}
	if len(lines) != fail {
		t.Errorf("modules.sh counted %d failures but reported %d locations", fail, len(lines))
	}
}

func count(re *regexp.Regexp, s string) int {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

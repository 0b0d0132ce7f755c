// Package testutil holds helpers shared by nd's tests: skip-or-fail checks for
// components a test needs (root, sshd, dockerd, nix) and a one-time build of
// the project's binaries. Only _test.go files and test helpers import it.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAllEnv is the environment variable that turns every Require skip into
// a failure. CI sets it (scripts/test.sh exports it when CI=true), so a
// missing component can never pass silently as a skipped test.
const RequireAllEnv = "ND_TEST_REQUIRE_ALL"

// RequireAll reports whether skips are forbidden (ND_TEST_REQUIRE_ALL=1).
func RequireAll() bool { return os.Getenv(RequireAllEnv) == "1" }

// Require skips the test when ok is false, or fails it when
// ND_TEST_REQUIRE_ALL=1. why says what is missing, e.g. "needs root".
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if RequireAll() {
		t.Fatalf("required but unavailable (%s=1): %s", RequireAllEnv, why)
	}
	t.Skipf("skipping: %s", why)
}

// RequireRoot requires the test process to run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root")
}

// RequireCommands requires each named program to be on PATH.
func RequireCommands(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := exec.LookPath(n)
		Require(t, err == nil, "needs "+n+" on PATH")
	}
}

package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildAtCommit builds the commands named (cmd/NAME) as they were at commit
// of this repository's history, into a temporary directory, and returns
// their paths by name: the real older programs that compatibility tests
// run against the current ones. It needs a clone with its history.
func BuildAtCommit(t testing.TB, commit string, cmds ...string) map[string]string {
	t.Helper()
	RequireCommands(t, "git", "go", "tar")
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("extracting commit %s of the repository (a clone with its history is needed): %v\n%s", commit, err, out)
	}
	bins := map[string]string{}
	for _, c := range cmds {
		bins[c] = filepath.Join(dir, c)
		build := exec.Command("go", "build", "-o", bins[c], "./cmd/"+c)
		build.Dir, build.Env = src, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the %s of %s: %v\n%s", c, commit, err, out)
		}
	}
	return bins
}

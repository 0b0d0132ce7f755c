package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot() = %q, which has no go.mod: %v", root, err)
	}
}

func TestBuildBinariesCachesPerProcess(t *testing.T) {
	a := BuildBinaries(t, "nd-fleet")["nd-fleet"]
	st, err := os.Stat(a)
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("BuildBinaries built %q: stat %v, mode %v", a, err, st)
	}
	b := BuildBinaries(t, "./cmd/nd-fleet")["nd-fleet"]
	if a != b {
		t.Fatalf("second BuildBinaries = %q, want the cached %q", b, a)
	}
}

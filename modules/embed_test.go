package modules

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExtract(t *testing.T) {
	root := t.TempDir()
	dir, err := Extract(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{EntryPoint, FlakeEntryPoint, "eval.nix", "module-list.nix", "pkgs/default.nix"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("extracted modules lack %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tests")); err == nil {
		t.Errorf("tests/ was embedded")
	}
	again, err := Extract(root)
	if err != nil || again != dir {
		t.Errorf("second Extract = %q, %v; want %q", again, err, dir)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no temporary leftovers)", len(entries))
	}
}

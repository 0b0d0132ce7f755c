package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nd-project/nd/internal/nixstore"
)

// TestRestoreFor: an import restores when it is unknown or large against
// the memory available, pipes into nix-store --import when small, and
// Importer overrides both.
func TestRestoreFor(t *testing.T) {
	avail := memoryAvailable()
	if avail <= 0 {
		t.Fatal("memoryAvailable found nothing in /proc/meminfo")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "nix/store"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{Store: &nixstore.Store{Root: root}}}
	for _, tc := range []struct {
		importer string
		bytes    int64
		want     bool
	}{
		{"", 0, true},
		{"", avail, true},
		{"", 1 << 20, avail/4 < 1<<20},
		{"nix-store", avail, false},
		{"restore", 1 << 20, true},
	} {
		a.cfg.Importer = tc.importer
		if got := a.restoreFor(tc.bytes); got != tc.want {
			t.Errorf("Importer %q: restoreFor(%d) = %v, want %v (available %d)", tc.importer, tc.bytes, got, tc.want, avail)
		}
	}
}

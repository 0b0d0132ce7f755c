package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/nixstore"
)

// rootedRuntime is a Runtime that only says where dockerd keeps its data.
type rootedRuntime struct {
	Runtime
	root string
}

func (r rootedRuntime) DataRoot(context.Context) (string, error) { return r.root, nil }

// TestWritebackDirs: a writeback syncs each file system once: the store's
// and dockerd's data root's, which image mode fills; what does not exist is
// left out. /dev/shm (a tmpfs) stands for a data root on a disk of its own.
func TestWritebackDirs(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "nix/store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	sameFS := filepath.Join(root, "docker")
	if err := os.Mkdir(sameFS, 0o755); err != nil {
		t.Fatal(err)
	}
	otherFS, err := os.MkdirTemp("/dev/shm", "nd-writeback-")
	if err != nil {
		t.Fatalf("needs a tmpfs at /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(otherFS) })
	for _, tc := range []struct {
		name, dataRoot string
		want           []string
	}{
		{"data root beside the store", sameFS, []string{store}},
		{"data root on another file system", otherFS, []string{store, otherFS}},
		{"data root missing", filepath.Join(root, "none"), []string{store}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{log: hclog.NewNullLogger(), cfg: Config{Store: &nixstore.Store{Root: root}, Runtime: rootedRuntime{root: tc.dataRoot}}}
			if got := a.writebackDirs(); !slices.Equal(got, tc.want) {
				t.Errorf("writebackDirs = %v, want %v", got, tc.want)
			}
		})
	}
}

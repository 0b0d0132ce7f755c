package dockerrt

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestDataRoot: dockerd says where it keeps images and containers, and the
// agent can open it there (to write it back, agent/writeback.go).
func TestDataRoot(t *testing.T) {
	r := runtimeForTest(t)
	dir, err := r.DataRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(dir) {
		t.Fatalf("DataRoot = %q, want an absolute path", dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("DataRoot %s: %v, want a directory", dir, err)
	}
}

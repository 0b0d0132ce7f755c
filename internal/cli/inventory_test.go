package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadInventory(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
		wantErr    bool
	}{
		{"plain", "a\nroot@b\nc:2222\n", []string{"a", "root@b", "c:2222"}, false},
		{"comments", "# prod\n\n  a   # the first\n#b\nc\n", []string{"a", "c"}, false},
		{"empty", "# nothing\n\n", nil, true},
		{"two per line", "a b\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "hosts")
			if err := os.WriteFile(p, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readInventory(p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("readInventory(%q) error = %v, want error %v", tt.file, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("readInventory(%q) (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

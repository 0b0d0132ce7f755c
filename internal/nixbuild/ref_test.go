package nixbuild

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRefKind(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "app", "config.nix")
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte("{}"), 0o644)
	for _, tc := range []struct{ arg, want string }{
		{"/nix/store/abc-nd-hello", RefPackage},
		{"config.nix", RefConfig},
		{cfg, RefConfig},
		{filepath.Dir(cfg), RefConfig},
		{dir, ""},
		{"droplet", ""},
		{"root@droplet", ""},
		{"", ""},
	} {
		if got := RefKind(tc.arg); got != tc.want {
			t.Errorf("RefKind(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
}

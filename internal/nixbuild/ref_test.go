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
		{".#web", RefFlake},
		{"#web", RefFlake},
		{"github:o/r#web", RefFlake},
		{dir + "#web", RefFlake},
		{"./flake#", ""},
		{"./flake#a/b", ""},
	} {
		if got := RefKind(tc.arg); got != tc.want {
			t.Errorf("RefKind(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
}

func TestSplitFlakeRef(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct{ arg, flake, name string }{
		{".#web", wd, "web"},
		{"#web", wd, "web"},
		{"./sub#api", filepath.Join(wd, "sub"), "api"},
		{"/abs/f#x", "/abs/f", "x"},
		{"github:o/r?dir=a#x", "github:o/r?dir=a", "x"},
		{"path:/p#x", "path:/p", "x"},
		{"myflake#x", "myflake", "x"},
	} {
		flake, name, err := SplitFlakeRef(tc.arg)
		if err != nil || flake != tc.flake || name != tc.name {
			t.Errorf("SplitFlakeRef(%q) = %q, %q, %v; want %q, %q", tc.arg, flake, name, err, tc.flake, tc.name)
		}
	}
	for _, bad := range []string{"x", "x#", "x#a b"} {
		if _, _, err := SplitFlakeRef(bad); err == nil {
			t.Errorf("SplitFlakeRef(%q) succeeded, want an error", bad)
		}
	}
}

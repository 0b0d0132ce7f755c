package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nd-project/nd/internal/manifest"
)

const (
	etcHash   = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-etc"
	otherHash = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-other"
)

// fakeStore makes root/nix/store with an etc store path holding links (name
// -> target) and a file, and another store path with a passwd file.
func fakeStore(t *testing.T, links map[string]string) string {
	t.Helper()
	root := t.TempDir()
	etc, other := filepath.Join(root, etcHash), filepath.Join(root, otherHash)
	for _, d := range []string{etc, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(etc, "group"), []byte("root:x:0:\n"), 0o644)
	os.WriteFile(filepath.Join(other, "passwd"), []byte("root:x:0:0:other:/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "secret"), []byte("host secret\n"), 0o600)
	for n, target := range links {
		if err := os.Symlink(target, filepath.Join(etc, n)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// etc is read confined to the store and to the closure, with openat2 and
// with the fallback for kernels without it.
func TestEtcConfinement(t *testing.T) {
	for _, mode := range []string{"openat2", "fallback"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "fallback" {
				openat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, unix.ENOSYS }
				t.Cleanup(func() { openat2 = unix.Openat2 })
			}
			inClosure := func(p string) bool { return p == etcHash }
			cases := []struct {
				name    string
				links   map[string]string
				allowed func(string) bool
				want    string // "" : accepted
			}{
				{"plain files", nil, inClosure, ""},
				{"absolute link out", map[string]string{"shadow": "/etc/shadow"}, nil, "out of the store"},
				{"relative link out", map[string]string{"s": "../../../secret"}, nil, "out of the store"},
				{"link to the store itself", map[string]string{"s": ".."}, nil, "out of the store"},
				{"link outside the closure", map[string]string{"passwd": otherHash + "/passwd"}, inClosure, "outside the package's closure"},
				{"relative link outside the closure", map[string]string{"passwd": "../" + filepath.Base(otherHash) + "/passwd"}, inClosure, "outside the package's closure"},
				{"link inside the closure", map[string]string{"passwd": otherHash + "/passwd"}, func(p string) bool { return p == etcHash || p == otherHash }, ""},
				{"link loop", map[string]string{"a": "b", "b": "a"}, nil, "more than 40 links"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					root := fakeStore(t, c.links)
					files, err := metadataFiles(root, &manifest.Manifest{Name: "web", Etc: etcHash}, c.allowed)
					if c.want == "" {
						if err != nil {
							t.Fatalf("metadataFiles: %v", err)
						}
						for _, f := range files {
							if strings.Contains(string(f.Data), "secret") {
								t.Errorf("%s holds %q", f.Path, f.Data)
							}
						}
						return
					}
					if err == nil || !strings.Contains(err.Error(), c.want) {
						t.Fatalf("metadataFiles with %v = %v, want an error containing %q", c.links, err, c.want)
					}
					if strings.Contains(c.want, "closure") && !errors.Is(err, ErrOutsideClosure) {
						t.Errorf("%v is not ErrOutsideClosure", err)
					}
				})
			}
		})
	}
}

package nixtest

import (
	"bytes"
	_ "embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed bench.nix
var benchNix []byte

// BenchClosure builds (once; Nix caches it) the benchmarks' closure: about
// 500 MB of host files (Go toolchain, /usr/lib) in n store paths that
// refer to each other. It returns the top store path.
func BenchClosure(t testing.TB, n int, total int64) string {
	t.Helper()
	RequireNix(t)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("nd-bench-%d-%d", n, total))
	groups := filepath.Join(dir, "groups")
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		os.RemoveAll(dir)
		var files []string
		var sizes []int64
		var sum int64
		for _, root := range []string{"/usr/local/go", "/usr/lib"} {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() || sum >= total {
					return nil
				}
				fi, err := d.Info()
				if err != nil || fi.Mode().Perm()&0o444 != 0o444 || fi.Size() > total/int64(n) {
					return nil
				}
				files = append(files, p)
				sizes = append(sizes, fi.Size())
				sum += fi.Size()
				return nil
			})
		}
		per := sum / int64(n)
		var cum int64
		for i, f := range files {
			// Files are at most per bytes, so no group stays empty.
			g := min(int64(n-1), cum/per)
			cum += sizes[i]
			dst := filepath.Join(groups, fmt.Sprintf("g%04d", g), strings.TrimPrefix(f, "/"))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(f, dst); err != nil {
				t.Fatal(err)
			}
		}
		bb := filepath.Join(dir, "bb", "bin")
		os.MkdirAll(bb, 0o755)
		data, _ := os.ReadFile("/bin/busybox")
		os.WriteFile(filepath.Join(bb, "busybox"), data, 0o755)
		os.Symlink("busybox", filepath.Join(bb, "sh"))
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
	}
	nix := filepath.Join(dir, "bench.nix")
	if err := os.WriteFile(nix, benchNix, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix-build", "--option", "substituters", "", "--no-out-link", nix,
		"--arg", "groups", groups, "--arg", "n", fmt.Sprint(n), "--arg", "busyboxDir", filepath.Join(dir, "bb"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building the benchmark closure: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

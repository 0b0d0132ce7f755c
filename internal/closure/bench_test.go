package closure_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

// benchClosure builds (once; Nix caches it) the benchmark closure: about
// 500 MB of host files (Go toolchain, /usr/lib) in n store paths that
// refer to each other. It returns the top store path.
func benchClosure(t testing.TB, n int, total int64) string {
	t.Helper()
	nt.RequireNix(t)
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
	nix, _ := filepath.Abs("testdata/bench.nix")
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

func requireBench(t *testing.T) {
	if os.Getenv("ND_BENCH") == "" {
		t.Skip("benchmark: set ND_BENCH=1 (not a test; prints figures)")
	}
}

// TestBenchCompression prints zstd throughput and ratio per level and
// encoder concurrency on the benchmark closure's export stream:
//
//	ND_BENCH=1 go test -run BenchCompression -v ./internal/closure
func TestBenchCompression(t *testing.T) {
	requireBench(t)
	ctx := context.Background()
	top := benchClosure(t, 200, 500<<20)
	s := &nixstore.Store{}
	paths, err := s.Requisites(ctx, top)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.Requisites(ctx, top); err != nil {
		t.Fatal(err)
	}
	t.Logf("nix-store -qR (dependency-first order, one call): %v", time.Since(start).Round(time.Millisecond))
	var discard countW
	start = time.Now()
	if err := s.Export(ctx, &discard, paths); err != nil {
		t.Fatal(err)
	}
	t.Logf("closure: %d paths, export %d MB in %v (%.0f MB/s)", len(paths), discard.n>>20, time.Since(start).Round(time.Millisecond),
		float64(discard.n)/(1<<20)/time.Since(start).Seconds())
	exp := bytes.NewBuffer(make([]byte, 0, discard.n))
	if err := s.Export(ctx, exp, paths); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	nixstore.CopyExport(bytes.NewReader(exp.Bytes()), io.Discard, nixstore.ExportOptions{ReferenceValid: func(string) (bool, error) { return true, nil }})
	t.Logf("validation (CopyExport): %.0f MB/s", float64(exp.Len())/(1<<20)/time.Since(start).Seconds())
	type row struct {
		level zstd.EncoderLevel
		conc  int
	}
	var rows []row
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		for _, c := range []int{1, 2} {
			rows = append(rows, row{l, c})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].level < rows[j].level })
	for _, r := range rows {
		var out countW
		start := time.Now()
		zw, _ := zstd.NewWriter(&out, zstd.WithEncoderLevel(r.level), zstd.WithEncoderConcurrency(r.conc))
		zw.Write(exp.Bytes())
		zw.Close()
		el := time.Since(start)
		inRate := float64(exp.Len()) / (1 << 20) / el.Seconds()
		ratio := float64(exp.Len()) / float64(out.n)
		// Time to send over a 25 MB/s link when compression and the link
		// overlap: the slower of the two.
		link := float64(out.n) / (25 << 20)
		t.Logf("level %-22v conc %d: %6.0f MB/s in, ratio %.2f, %4d MB out; at 25 MB/s: max(compress %.1fs, link %.1fs)",
			r.level, r.conc, inRate, ratio, out.n>>20, el.Seconds(), link)
	}
}

type countW struct{ n int64 }

func (c *countW) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

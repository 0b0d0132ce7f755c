package closure_test

import (
	"bytes"
	"context"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

// BenchmarkCompression prints zstd throughput and ratio per level and
// encoder concurrency on the benchmark closure's export stream:
//
//	go test -run XXX -bench BenchmarkCompression -benchtime 1x ./internal/closure
func BenchmarkCompression(b *testing.B) {
	t := b
	ctx := context.Background()
	top := nt.BenchClosure(t, 200, 500<<20)
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

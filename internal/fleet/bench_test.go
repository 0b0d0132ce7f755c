package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/testutil"
)

// BenchmarkFleet measures how long droplets take to answer (sshd and
// dockerd) after Start, bookworm (the baseline) beside modern, one and three
// at a time, and a modern droplet's reboot. It prints figures and judges
// nothing (scripts/bench.sh fleet).
func BenchmarkFleet(b *testing.B) {
	testutil.RequireRoot(b)
	for _, tc := range []struct {
		name string
		n    int
		opts Options
	}{
		{"bookworm-1", 1, Options{Nix: true}},
		{"modern-1", 1, Options{Kind: Modern, Nix: true}},
		{"bookworm-3", 3, Options{Nix: true}},
		{"modern-3", 3, Options{Kind: Modern, Nix: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var up, down time.Duration
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				start := time.Now()
				opts := tc.opts
				opts.Prefix = "bench"
				f, err := Start(ctx, tc.n, opts)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				up += time.Since(start)
				start = time.Now()
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				down += time.Since(start)
			}
			b.ReportMetric(up.Seconds()/float64(b.N), "s-up")
			b.ReportMetric(down.Seconds()/float64(b.N), "s-teardown")
		})
	}
	b.Run("modern-reboot", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		f, err := Start(ctx, 1, Options{Kind: Modern, Nix: true, Prefix: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		d := f.Droplets()[0]
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := d.Reboot(ctx); err != nil {
				b.Fatal(fmt.Errorf("reboot %d: %w", i+1, err))
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s-reboot")
	})
}

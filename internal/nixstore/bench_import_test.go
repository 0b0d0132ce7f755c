package nixstore_test

import (
	"bytes"
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

// BenchmarkImport imports the transfer benchmark's closure (~500 MB, 200
// paths, held in memory) into an empty chroot store, the agent's way
// (RestoreImport) and Nix's (CopyExport into nix-store --import), and
// prints the rate and CPU of each:
//
//	go test -run XXX -bench BenchmarkImport -benchtime 1x ./internal/nixstore
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	top := nt.BenchClosure(b, 200, 500<<20)
	local := &nixstore.Store{}
	paths, err := local.Requisites(ctx, top)
	if err != nil {
		b.Fatal(err)
	}
	var exp bytes.Buffer
	if err := local.Export(ctx, &exp, paths); err != nil {
		b.Fatal(err)
	}
	for _, way := range []string{"restore", "nix-store"} {
		b.Run(way, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				target := &nixstore.Store{Root: filepath.Join(b.TempDir(), "store")}
				if _, err := target.QueryValid(ctx, paths[:1]); err != nil { // create it
					b.Fatal(err)
				}
				b.StartTimer()
				start, cpu0 := time.Now(), cpuNow()
				if way == "restore" {
					if _, _, err := target.RestoreImport(ctx, bytes.NewReader(exp.Bytes()), nixstore.ExportOptions{}); err != nil {
						b.Fatal(err)
					}
				} else {
					im, err := target.StartImport(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := nixstore.CopyExport(bytes.NewReader(exp.Bytes()), im.Stdin, nixstore.ExportOptions{}); err != nil {
						b.Fatal(err)
					}
					if _, err := im.Close(); err != nil {
						b.Fatal(err)
					}
				}
				el := time.Since(start)
				b.Logf("%s: %d MB in %.2f s (%.0f MB/s), CPU %.2f s (this process and its children)",
					way, exp.Len()>>20, el.Seconds(), float64(exp.Len())/(1<<20)/el.Seconds(), (cpuNow() - cpu0).Seconds())
			}
		})
	}
}

func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

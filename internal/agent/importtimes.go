package agent

import (
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/nd-project/nd/internal/nixstore"
)

// importTimes is where one import's time went on the host, logged with
// its "imported" line for the benchmark's stage breakdown (see
// docs/BENCHMARKS.md). The import's own goroutine does each stage in turn,
// so the wall times add up to the import's; CPU is the agent's (all its
// threads, so concurrent requests blur it) and its Nix children's.
type importTimes struct {
	t0          time.Time
	total       time.Duration
	wire        time.Duration // blocked waiting for the link
	unzip       time.Duration // in the zstd decoder, wire included
	roots       time.Duration
	restore     nixstore.RestoreStats
	cpu0, cpuCh time.Duration // at start: own CPU, children's CPU
	cpu, child  time.Duration
}

func (t *importTimes) start() {
	t.t0 = time.Now()
	t.cpu0, t.cpuCh = rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
}

func (t *importTimes) stop() {
	t.total = time.Since(t.t0)
	t.cpu = rusage(syscall.RUSAGE_SELF) - t.cpu0
	t.child = rusage(syscall.RUSAGE_CHILDREN) - t.cpuCh
}

// fields are hclog key/value pairs, in seconds.
func (t *importTimes) fields() []any {
	s := func(d time.Duration) string { return formatSeconds(d) }
	unzip := t.unzip - t.wire
	r := t.restore
	// Registration runs beside the stream; only its wait at the end is
	// the import goroutine's.
	validate := t.total - t.unzip - r.Write - r.Hash - r.RegisterWait - t.roots
	return []any{
		"import_s", s(t.total), "wire_wait_s", s(t.wire), "decompress_s", s(unzip),
		"validate_s", s(validate), "write_s", s(r.Write), "hash_s", s(r.Hash),
		"register_s", s(r.Register), "roots_s", s(t.roots),
		"agent_cpu_s", s(t.cpu), "nix_cpu_s", s(t.child),
	}
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// rusage is the user+system CPU time of who (RUSAGE_SELF, RUSAGE_CHILDREN:
// the reaped ones).
func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedReader adds the time its Reads take to *d.
type timedReader struct {
	r io.Reader
	d *time.Duration
}

func (t *timedReader) Read(p []byte) (int, error) {
	s := time.Now()
	n, err := t.r.Read(p)
	*t.d += time.Since(s)
	return n, err
}

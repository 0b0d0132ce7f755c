package agentclient

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Choosing the compression for the link. After every segmentBytes of input
// the level for the next segment is chosen from how the last one went: how
// fast the link took its compressed bytes, and how much of its time the
// sender spent waiting for the link. A new level starts a new zstd frame (a
// zstd stream may hold any number of frames; the agent's decoder reads them
// one after another); the same level continues the frame, so a stream that
// keeps its level is byte for byte what one encoder makes.
//
// The levels, measured with BenchmarkCompression on the benchmark closure:
// SpeedDefault keeps up with a 25 MB/s link on one core with room to spare
// and is where a stream starts. Where the link is slow and the sender waits
// on it nearly all the time, CPU is cheaper than bytes: SpeedBetterCompression
// (~10% fewer bytes at about a third of the speed). Where the link is fast
// and the sender hardly waits on it, the compressor bounds the transfer:
// SpeedFastest. A 25 MB/s link stays at SpeedDefault, so bytes on the wire
// never grow there.
const (
	segmentBytes = 32 << 20
	// slowLink and fastLink bound, in compressed bytes per second, where
	// the level leaves SpeedDefault.
	slowLink = 8e6
	fastLink = 100e6
)

// segmentStats is how one frame went.
type segmentStats struct {
	wireBytes int64
	wall      time.Duration // from its first input byte to its end
	blocked   time.Duration // of which writing to the link
}

// chooseLevel is the level for the frame after one that went as s.
func chooseLevel(s segmentStats) zstd.EncoderLevel {
	if s.wall <= 0 || s.wireBytes == 0 {
		return zstd.SpeedDefault
	}
	rate := float64(s.wireBytes) / s.wall.Seconds()
	waiting := float64(s.blocked) / float64(s.wall)
	switch {
	case rate < slowLink && waiting > 0.8:
		return zstd.SpeedBetterCompression
	case rate > fastLink && waiting < 0.2:
		return zstd.SpeedFastest
	}
	return zstd.SpeedDefault
}

// adaptiveWriter compresses what is written to it into w, each
// segmentBytes of input at the level chooseLevel gives (or at fixed, if
// set).
type adaptiveWriter struct {
	w     *timedWriter
	seg   int64 // input bytes per frame
	conc  int
	fixed zstd.EncoderLevel
	encs  map[zstd.EncoderLevel]*zstd.Encoder

	cur    *zstd.Encoder
	in     int64 // input bytes in the current frame
	start  time.Time
	wire0  int64
	block0 time.Duration
	levels []zstd.EncoderLevel // of each segment, for tests and logs
	frames int
	lvl    zstd.EncoderLevel // of the current frame
	next   zstd.EncoderLevel
}

func newAdaptiveWriter(w io.Writer, conc int, fixed zstd.EncoderLevel) *adaptiveWriter {
	return &adaptiveWriter{w: &timedWriter{w: w}, seg: segmentBytes, conc: conc, fixed: fixed, encs: map[zstd.EncoderLevel]*zstd.Encoder{}, next: DefaultLevel}
}

// startSegment starts the next segment of input, in a new frame if its
// level differs from the current one's.
func (a *adaptiveWriter) startSegment() error {
	lvl := a.next
	if a.fixed != 0 {
		lvl = a.fixed
	}
	a.levels = append(a.levels, lvl)
	if a.cur != nil && lvl == a.lvl {
		a.in, a.start, a.wire0, a.block0 = 0, time.Now(), a.w.n.Load(), a.w.blocked()
		return nil // the frame goes on
	}
	if a.cur != nil {
		if err := a.cur.Close(); err != nil {
			return err
		}
	}
	a.in, a.start, a.wire0, a.block0 = 0, time.Now(), a.w.n.Load(), a.w.blocked()
	enc := a.encs[lvl]
	if enc == nil {
		var err error
		// One encoder per level, reused frame after frame: making one
		// allocates its tables.
		enc, err = zstd.NewWriter(a.w, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(a.conc))
		if err != nil {
			return fmt.Errorf("starting compression: %w", err)
		}
		a.encs[lvl] = enc
	} else {
		enc.Reset(a.w)
	}
	a.cur, a.lvl = enc, lvl
	a.frames++
	return nil
}

// endSegment chooses the next segment's level; the frame stays open.
func (a *adaptiveWriter) endSegment() {
	a.next = chooseLevel(segmentStats{wireBytes: a.w.n.Load() - a.wire0, wall: time.Since(a.start), blocked: a.w.blocked() - a.block0})
	a.in = a.seg // the next Write starts the next segment
}

func (a *adaptiveWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		if a.cur == nil || a.in >= a.seg {
			if err := a.startSegment(); err != nil {
				return done, err
			}
		}
		n := min(int64(len(p)), a.seg-a.in)
		m, err := a.cur.Write(p[:n])
		done += m
		a.in += int64(m)
		if err != nil {
			return done, err
		}
		p = p[n:]
		if a.in >= a.seg {
			a.endSegment()
		}
	}
	return done, nil
}

// Close ends the last frame (an empty stream still gets one, so the agent
// reads a valid zstd stream).
func (a *adaptiveWriter) Close() error {
	if a.cur == nil {
		if err := a.startSegment(); err != nil {
			return err
		}
	}
	err := a.cur.Close()
	a.cur = nil
	return err
}

// timedWriter counts the bytes written to w and the time writing took.
// The encoder's goroutines write while the adaptive writer reads the
// counts, hence atomics.
type timedWriter struct {
	w       io.Writer
	n       atomic.Int64
	blockNs atomic.Int64
}

func (t *timedWriter) Write(p []byte) (int, error) {
	s := time.Now()
	n, err := t.w.Write(p)
	t.blockNs.Add(int64(time.Since(s)))
	t.n.Add(int64(n))
	return n, err
}

func (t *timedWriter) blocked() time.Duration { return time.Duration(t.blockNs.Load()) }

package agentclient

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func TestChooseLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    segmentStats
		want zstd.EncoderLevel
	}{
		{"nothing measured", segmentStats{}, zstd.SpeedDefault},
		{"25 MB/s link, sender waiting on it", segmentStats{wireBytes: 25e6, wall: time.Second, blocked: 900 * time.Millisecond}, zstd.SpeedDefault},
		{"2 MB/s link, sender waiting on it", segmentStats{wireBytes: 2e6, wall: time.Second, blocked: 950 * time.Millisecond}, zstd.SpeedBetterCompression},
		{"2 MB/s, sender busy (CPU-bound)", segmentStats{wireBytes: 2e6, wall: time.Second, blocked: 100 * time.Millisecond}, zstd.SpeedDefault},
		{"1 GB/s link, compressor-bound", segmentStats{wireBytes: 300e6, wall: time.Second, blocked: 50 * time.Millisecond}, zstd.SpeedFastest},
		{"1 GB/s link, receiver-bound", segmentStats{wireBytes: 300e6, wall: time.Second, blocked: 800 * time.Millisecond}, zstd.SpeedDefault},
	} {
		if got := chooseLevel(tc.s); got != tc.want {
			t.Errorf("%s: chooseLevel(%+v) = %v, want %v", tc.name, tc.s, got, tc.want)
		}
	}
}

// slowWriter takes rate bytes per second.
type slowWriter struct {
	w    bytes.Buffer
	rate float64
}

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Duration(float64(len(p)) / s.rate * float64(time.Second)))
	return s.w.Write(p)
}

// TestAdaptiveWriter: the frames decode, one after another, to what was
// written; over a slow link the segments after the first use the better
// level, in a second frame; a fixed level stays one frame; an empty stream
// is a valid one.
func TestAdaptiveWriter(t *testing.T) {
	data := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = "abcdefgh"[r.IntN(8)] // compressible, not trivially
	}
	for _, tc := range []struct {
		name   string
		fixed  zstd.EncoderLevel
		rate   float64
		want   []zstd.EncoderLevel
		frames int
	}{
		{"slow link", 0, 0.4e6, []zstd.EncoderLevel{zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBetterCompression}, 2},
		{"fixed", zstd.SpeedFastest, 20e6, []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedFastest, zstd.SpeedFastest}, 1},
	} {
		out := &slowWriter{rate: tc.rate}
		a := newAdaptiveWriter(out, 2, tc.fixed)
		a.seg = 1 << 20
		if _, err := a.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if len(a.levels) != len(tc.want) {
			t.Fatalf("%s: frames at levels %v, want %v", tc.name, a.levels, tc.want)
		}
		for i := range tc.want {
			if a.levels[i] != tc.want[i] {
				t.Errorf("%s: frames at levels %v, want %v", tc.name, a.levels, tc.want)
				break
			}
		}
		if a.frames != tc.frames {
			t.Errorf("%s: %d frames, want %d (one per change of level)", tc.name, a.frames, tc.frames)
		}
		zr, err := zstd.NewReader(&out.w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		zr.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: decoded %d bytes (%v), want the %d written", tc.name, len(got), err, len(data))
		}
	}

	var out bytes.Buffer
	a := newAdaptiveWriter(&out, 1, 0)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	zr, _ := zstd.NewReader(&out)
	defer zr.Close()
	if got, err := io.ReadAll(zr); err != nil || len(got) != 0 {
		t.Errorf("empty stream decodes to %q, %v", got, err)
	}
}

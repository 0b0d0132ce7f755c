package countio

import (
	"errors"
	"strings"
	"testing"
)

type failAfter struct{ left int }

var errFull = errors.New("full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errFull
	}
	f.left -= len(p)
	return len(p), nil
}

func TestWriter(t *testing.T) {
	var seen []int64
	var sb strings.Builder
	w := &Writer{W: &sb, OnWrite: func(n int64) { seen = append(seen, n) }}
	w.Write([]byte("abc"))
	w.Write([]byte("de"))
	if w.N != 5 || sb.String() != "abcde" || len(seen) != 2 || seen[1] != 5 || w.Err != nil {
		t.Errorf("after two writes N = %d, wrote %q, seen %v, Err %v; want 5, abcde, [3 5], nil", w.N, sb.String(), seen, w.Err)
	}

	w = &Writer{W: &failAfter{left: 4}}
	w.Write([]byte("abc"))
	if _, err := w.Write([]byte("def")); !errors.Is(err, errFull) {
		t.Fatalf("second write = %v, want errFull", err)
	}
	w.Write([]byte("g"))
	if w.N != 4 || !errors.Is(w.Err, errFull) {
		t.Errorf("N = %d, Err = %v; want 4 bytes counted and the first error kept", w.N, w.Err)
	}
}

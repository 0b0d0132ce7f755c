package closure

import (
	"bytes"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	s := Stats{Paths: 10, Missing: 4, Sent: 2, Bytes: 300 << 20, WireBytes: 50 << 20, Elapsed: 2 * time.Second}
	if got, want := Line(s), "2/4 paths  300.0 MiB → 50.0 MiB on the wire  25.0 MiB/s"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

func TestPrinterQuietWhenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewTerminalPrinter(&b)
	p.Progress(Stats{Missing: 1})
	p.Done(Stats{Missing: 1})
	if b.Len() != 0 {
		t.Errorf("printed %q to a non-terminal", b.String())
	}
}

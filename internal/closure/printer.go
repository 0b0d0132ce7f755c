package closure

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// TerminalPrinter redraws one status line on a terminal; on anything else
// it prints nothing.
type TerminalPrinter struct {
	w        io.Writer
	terminal bool
	drawn    bool
}

// NewTerminalPrinter prints to w if it is a terminal.
func NewTerminalPrinter(w io.Writer) *TerminalPrinter {
	f, ok := w.(*os.File)
	return &TerminalPrinter{w: w, terminal: ok && term.IsTerminal(int(f.Fd()))}
}

// Line is the status line for s.
func Line(s Stats) string {
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.WireBytes) / secs
	}
	return fmt.Sprintf("%d/%d paths  %s → %s on the wire  %s/s", s.Sent, s.Missing, size(s.Bytes), size(s.WireBytes), size(int64(rate)))
}

// Progress redraws the line.
func (p *TerminalPrinter) Progress(s Stats) {
	if !p.terminal {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s", Line(s))
	p.drawn = true
}

// Done ends the line.
func (p *TerminalPrinter) Done(s Stats) {
	if !p.terminal {
		return
	}
	if s.Substituted > 0 {
		fmt.Fprintf(p.w, "\r\033[K%d paths substituted by the host from its binary caches\n", s.Substituted)
	}
	if s.Missing == 0 {
		fmt.Fprintf(p.w, "\r\033[Kall %d paths already on the host\n", s.Paths)
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s in %.1fs\n", Line(s), s.Elapsed.Seconds())
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

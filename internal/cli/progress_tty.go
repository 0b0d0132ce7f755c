package cli

import (
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/nd-project/nd/internal/proto"
)

// ttyReporter draws live lines with mpb on a terminal: one for the build
// (what Nix builds or fetches now), then one per host with a bar while
// bytes go out (done of total, percent, rate, ETA) and the agent's current
// step around it. Other lines print above the live ones.
type ttyReporter struct {
	p       *mpb.Progress
	verbose bool

	// mu guards build and hosts. Decorators, which mpb calls from its
	// render loop, never take it: mpb calls wait for that loop, so holding
	// mu there while a decorator waits for it would deadlock.
	mu    sync.Mutex
	build *mpb.Bar
	hosts map[string]*hostLine

	textMu    sync.Mutex // guards buildText, read by the build line's decorator
	buildText string
}

func newTTYReporter(w io.Writer, verbose bool) *ttyReporter {
	return &ttyReporter{
		p:       mpb.New(mpb.WithOutput(w), mpb.WithWidth(24), mpb.WithRefreshRate(120*time.Millisecond)),
		verbose: verbose,
		hosts:   map[string]*hostLine{},
	}
}

func (t *ttyReporter) println(s string) { fmt.Fprintln(t.p, s) }

func (t *ttyReporter) buildStart(what string) {
	t.setBuildText("evaluating " + what)
	t.mu.Lock()
	defer t.mu.Unlock()
	// A spinner one cell wide while Nix works; total 1, so done completes it.
	t.build = t.p.New(1, mpb.SpinnerStyle(), mpb.BarWidth(1), mpb.BarFillerClearOnComplete(),
		mpb.PrependDecorators(decor.Name("build", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			t.textMu.Lock()
			defer t.textMu.Unlock()
			return t.buildText
		})))
}

func (t *ttyReporter) setBuildText(s string) {
	t.textMu.Lock()
	t.buildText = s
	t.textMu.Unlock()
}

func (t *ttyReporter) buildLine(line string) {
	if t.verbose {
		t.println(line)
	}
	if s := nixActivity(line); s != "" {
		t.setBuildText(s)
	}
}

func (t *ttyReporter) buildDone(pkg, app string, took time.Duration) {
	t.setBuildText(fmt.Sprintf("built %s (app %s) in %.1fs", shortPackage(pkg), app, took.Seconds()))
	t.mu.Lock()
	b := t.build
	t.mu.Unlock()
	if b != nil {
		b.SetCurrent(1)
	}
}

// nixActivity turns a line of nix-build's output into what it is doing:
// "building hello.drv", "fetching busybox-1.36"; "" for other lines.
func nixActivity(line string) string {
	for _, p := range []struct{ prefix, verb string }{
		{"building '", "building "},
		{"copying path '", "fetching "},
		{"these ", ""},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			if p.verb == "" {
				return strings.TrimSuffix(line, ":")
			}
			name, _, _ := strings.Cut(rest, "'")
			return p.verb + storeName(name)
		}
	}
	return ""
}

// storeName is a store path's name without its hash.
func storeName(p string) string {
	b := path.Base(p)
	if _, name, ok := strings.Cut(b, "-"); ok && strings.HasPrefix(p, "/nix/store/") {
		return name
	}
	return b
}

// hostLine is the live line of one host.
type hostLine struct {
	bar *mpb.Bar

	mu       sync.Mutex
	step     string
	stepAt   time.Time // when step began: a long one shows its seconds
	what     string    // "12 paths", "3 layers" while transferring
	total, n int64
	wireN    int64
	start    time.Time
	sending  bool
	final    string
}

func (t *ttyReporter) host(name string) *hostLine {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.hosts[name]; h != nil {
		return h
	}
	h := &hostLine{step: "connecting"}
	h.bar = t.p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return h.text() })))
	t.hosts[name] = h
	return h
}

func (h *hostLine) set(f func(*hostLine)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

// text is what follows the bar: the transfer's figures while it runs, else
// the agent's step, and at the end the result.
func (h *hostLine) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.final != "" {
		return h.final
	}
	if !h.sending {
		// The agent says nothing while it waits (a container settling, a
		// health check): the seconds show that it is still at it.
		if s := time.Since(h.stepAt); !h.stepAt.IsZero() && s >= 2*time.Second {
			return fmt.Sprintf("%s (%.0fs)", h.step, s.Seconds())
		}
		return h.step
	}
	if h.total > 0 && h.n >= h.total {
		// All bytes are out; the agent answers once it has imported them.
		return fmt.Sprintf("%s sent (%s on the wire); the host imports them", h.what, humanBytes(h.wireN))
	}
	return transferText(h.what, h.n, h.total, h.wireN, time.Since(h.start))
}

// transferText is "3 layers  120.3 MiB / 314.4 MiB  38%  9.7 MiB/s  ETA 12s
// (92.8 MiB on the wire)"; sizes and rates in binary units (MiB = 2^20).
func transferText(what string, n, total, wire int64, took time.Duration) string {
	rate := 0.0
	if s := took.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	pct, eta := "", ""
	if total > 0 {
		p := min(100*float64(n)/float64(total), 100)
		pct = fmt.Sprintf("  %3.0f%%", p)
		if rate > 0 && n < total {
			eta = fmt.Sprintf("  ETA %s", time.Duration(float64(total-n)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	return fmt.Sprintf("%s  %s / %s%s  %s/s%s  (%s on the wire)", what, humanBytes(n), humanBytes(max(total, n)), pct, humanBytes(int64(rate)), eta, humanBytes(wire))
}

// info sets the host's step and prints it above the live lines too, as
// plain output would: the mode and why are worth keeping on screen.
func (t *ttyReporter) info(host, msg string) {
	h := t.host(host)
	h.set(func(h *hostLine) { h.step, h.stepAt = msg, time.Now() })
	t.println(host + ": " + msg)
}

func (t *ttyReporter) stage(host string, p proto.Progress) {
	h := t.host(host)
	h.set(func(h *hostLine) { h.step, h.stepAt = p.Message, time.Now() })
	if t.verbose || p.Stage == "waiting" {
		t.println(host + ": " + p.Message)
	}
}

func (t *ttyReporter) transfer(host, what string, total int64) meter {
	h := t.host(host)
	h.set(func(h *hostLine) {
		h.what, h.total, h.n, h.wireN, h.start, h.sending = what, total, 0, 0, time.Now(), true
	})
	if total > 0 {
		h.bar.SetTotal(total, false)
	}
	return h
}

func (h *hostLine) bytes(n int64) {
	h.set(func(h *hostLine) { h.n = n })
	h.bar.SetCurrent(n)
}

func (h *hostLine) wire(n int64) { h.set(func(h *hostLine) { h.wireN = n }) }

func (h *hostLine) done() {
	var total int64
	h.set(func(h *hostLine) {
		if h.sending {
			h.step = fmt.Sprintf("sent %s (%s on the wire) in %.1fs; the agent takes over",
				h.what, humanBytes(h.wireN), time.Since(h.start).Seconds())
			h.stepAt = time.Now()
		}
		h.sending = false
		total = h.total
	})
	if total > 0 {
		h.bar.SetCurrent(total) // export bytes are a little more than NAR sizes
	}
}

func (t *ttyReporter) result(app string, r pushResult) {
	h := t.host(r.Host)
	h.set(func(h *hostLine) {
		h.sending = false
		if r.Err != nil {
			h.final = "FAILED (see below)"
		} else {
			h.final = strings.TrimPrefix(resultLine(app, r), r.Host+": ")
		}
	})
	if r.Err != nil {
		h.bar.Abort(false)
	} else {
		h.bar.SetTotal(-1, true)
	}
}

// finish draws the last frame and gives the terminal back.
func (t *ttyReporter) finish() {
	t.mu.Lock()
	bars := []*mpb.Bar{}
	if t.build != nil {
		bars = append(bars, t.build)
	}
	for _, h := range t.hosts {
		bars = append(bars, h.bar)
	}
	t.mu.Unlock()
	for _, b := range bars {
		if !b.Completed() && !b.Aborted() {
			b.Abort(false)
		}
	}
	t.p.Wait()
}

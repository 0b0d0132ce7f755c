package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/proto"
)

// progressOptions are a deploy's -q, -v and --json.
type progressOptions struct {
	Quiet   bool
	Verbose bool
	JSON    bool
}

func (p *progressOptions) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&p.Quiet, "quiet", "q", false, "print only errors and the result")
	fs.BoolVarP(&p.Verbose, "verbose", "v", false, "also print nix-build's output and every step of the agent")
	fs.BoolVar(&p.JSON, "json", false, "print one JSON event a line on stdout instead (build, mode, transfer, stage, result)")
}

// reporter shows a deploy's progress: plain lines (no terminal), live lines
// on a terminal (progress_tty.go) or JSON events. Every method is safe for
// concurrent use: hosts deploy in parallel.
type reporter interface {
	buildStart(what string)
	buildLine(line string) // a line of nix-build's output
	buildDone(pkg, app string, took time.Duration)
	info(host, msg string) // worth a line of its own ("image mode", "waiting")
	stage(host string, p proto.Progress)
	transfer(host, what string, total int64) meter
	result(app string, r pushResult)
	finish()
}

// meter follows one transfer: export (or image) bytes against a total, and
// the compressed bytes on the wire.
type meter interface {
	bytes(n int64)
	wire(n int64)
	done()
}

func (p progressOptions) reporter(env *Env) reporter {
	switch {
	case p.JSON:
		return &jsonReporter{enc: json.NewEncoder(env.Stdout), now: time.Now}
	case !p.Quiet && isTerminal(env.Stderr):
		return newTTYReporter(env.Stderr, p.Verbose)
	}
	return &plainReporter{w: env.Stderr, quiet: p.Quiet, verbose: p.Verbose}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// closurePrinter feeds a host-store transfer's Stats to a meter, made when
// the first Stats tell what is missing.
type closurePrinter struct {
	start func(closure.Stats) meter
	m     meter
}

func (c *closurePrinter) meter(s closure.Stats) meter {
	if c.m == nil {
		c.m = c.start(s)
	}
	return c.m
}

func (c *closurePrinter) Progress(s closure.Stats) {
	m := c.meter(s)
	m.bytes(s.Bytes)
	m.wire(s.WireBytes)
}

func (c *closurePrinter) Done(s closure.Stats) {
	if s.Missing == 0 {
		return // nothing was sent: no transfer to show
	}
	m := c.meter(s)
	m.bytes(s.Bytes)
	m.wire(s.WireBytes)
	m.done()
}

// lineWriter splits what is written into lines for f (nix-build's stderr).
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	f   func(string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := string(bytes.TrimRight(l.buf[:i], "\r")); line != "" {
			l.f(line)
		}
		l.buf = l.buf[i+1:]
	}
}

// plainReporter prints lines as nd-push always did without a terminal:
// what is worth knowing, and with -v every step.
type plainReporter struct {
	mu             sync.Mutex
	w              io.Writer
	quiet, verbose bool
}

func (p *plainReporter) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, a...)
}

func (p *plainReporter) buildStart(what string) {
	if !p.quiet {
		p.printf("building %s\n", what)
	}
}

func (p *plainReporter) buildLine(line string) {
	if p.verbose {
		p.printf("%s\n", line)
	}
}

func (p *plainReporter) buildDone(pkg, app string, took time.Duration) {
	if !p.quiet {
		p.printf("package %s (app %s)\n", pkg, app)
	}
}

func (p *plainReporter) info(host, msg string) {
	if !p.quiet {
		p.printf("%s: %s\n", host, msg)
	}
}

func (p *plainReporter) stage(host string, pr proto.Progress) {
	if p.verbose || (!p.quiet && pr.Stage == "waiting") {
		p.printf("%s: %s\n", host, pr.Message)
	}
}

func (p *plainReporter) transfer(host, what string, total int64) meter {
	return &plainMeter{p: p, host: host, what: what, total: total, start: time.Now()}
}

func (p *plainReporter) result(string, pushResult) {}
func (p *plainReporter) finish()                   {}

type plainMeter struct {
	p            *plainReporter
	host, what   string
	total        int64
	start        time.Time
	n, wireBytes int64
	once         sync.Once
}

func (m *plainMeter) bytes(n int64) { m.n = n }
func (m *plainMeter) wire(n int64)  { m.wireBytes = n }
func (m *plainMeter) done() {
	m.once.Do(func() {
		if m.p.verbose {
			m.p.printf("%s: sent %s, %s → %s on the wire in %.1fs\n", m.host, m.what, humanBytes(m.n), humanBytes(m.wireBytes), time.Since(m.start).Seconds())
		}
	})
}

// jsonReporter writes one JSON object a line: {"time", "event", "host"?,
// ...}. The event names and fields are listed in README; fields may be
// added, none removed.
type jsonReporter struct {
	mu  sync.Mutex
	enc *json.Encoder
	now func() time.Time
}

// Event is one line of `nd-push deploy --json`.
type Event struct {
	Time       string `json:"time"`  // RFC 3339 with milliseconds, UTC
	Event      string `json:"event"` // build, build-log, built, info, stage, transfer, transferred, result
	Host       string `json:"host,omitempty"`
	App        string `json:"app,omitempty"`
	Package    string `json:"package,omitempty"`
	Stage      string `json:"stage,omitempty"`
	Message    string `json:"message,omitempty"`
	What       string `json:"what,omitempty"`       // transfer: "12 paths", "3 layers"
	Bytes      int64  `json:"bytes,omitempty"`      // transfer: uncompressed bytes so far
	Total      int64  `json:"total,omitempty"`      // transfer: uncompressed bytes in all
	Wire       int64  `json:"wire,omitempty"`       // transfer: compressed bytes on the wire
	Mode       string `json:"mode,omitempty"`       // result: host-store or image
	Generation int    `json:"generation,omitempty"` // result
	Changed    *bool  `json:"changed,omitempty"`    // result: false when the host already ran it
	Seconds    string `json:"seconds,omitempty"`    // built, result: time taken
	Error      string `json:"error,omitempty"`      // result: why this host failed
}

func (j *jsonReporter) emit(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.Time = j.now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	j.enc.Encode(e)
}

func (j *jsonReporter) buildStart(what string) { j.emit(Event{Event: "build", What: what}) }
func (j *jsonReporter) buildLine(line string)  { j.emit(Event{Event: "build-log", Message: line}) }
func (j *jsonReporter) buildDone(pkg, app string, took time.Duration) {
	j.emit(Event{Event: "built", Package: pkg, App: app, Seconds: seconds(took)})
}
func (j *jsonReporter) info(host, msg string) { j.emit(Event{Event: "info", Host: host, Message: msg}) }
func (j *jsonReporter) stage(host string, p proto.Progress) {
	j.emit(Event{Event: "stage", Host: host, Stage: p.Stage, Message: p.Message})
}
func (j *jsonReporter) transfer(host, what string, total int64) meter {
	return &jsonMeter{j: j, e: Event{Event: "transfer", Host: host, What: what, Total: total}}
}
func (j *jsonReporter) result(app string, r pushResult) {
	e := Event{Event: "result", Host: r.Host, App: app, Mode: r.Mode, Generation: r.Generation,
		Changed: &r.Changed, Bytes: 0, Wire: r.Sent, Seconds: seconds(r.Elapsed)}
	if r.Err != nil {
		e.Error, e.Changed, e.Generation = r.Err.Error(), nil, 0
	}
	j.emit(e)
}
func (j *jsonReporter) finish() {}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// jsonMeter emits a transfer event at most every 250ms, and one at the end.
type jsonMeter struct {
	j    *jsonReporter
	mu   sync.Mutex
	e    Event
	last time.Time
	once sync.Once
}

func (m *jsonMeter) update(f func(*Event)) {
	m.mu.Lock()
	f(&m.e)
	e, emit := m.e, time.Since(m.last) >= 250*time.Millisecond
	if emit {
		m.last = time.Now()
	}
	m.mu.Unlock()
	if emit {
		m.j.emit(e)
	}
}

func (m *jsonMeter) bytes(n int64) { m.update(func(e *Event) { e.Bytes = n }) }
func (m *jsonMeter) wire(n int64)  { m.update(func(e *Event) { e.Wire = n }) }
func (m *jsonMeter) done() {
	m.once.Do(func() {
		m.mu.Lock()
		e := m.e
		m.mu.Unlock()
		e.Event = "transferred"
		m.j.emit(e)
	})
}

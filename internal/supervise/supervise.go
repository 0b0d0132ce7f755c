package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nd-project/nd/internal/manifest"
)

// Exit statuses of nd-init besides those of its processes.
const (
	ExitConfig    = 2   // the processes file or a process's user or command is wrong
	ExitCannotRun = 126 // a process's program exists but could not be executed
	ExitNotFound  = 127 // a process's program or directory does not exist
)

// StopSignals stop the container; PassSignals are passed on to every process
// group and change nothing else. A caller of Run subscribes to both with
// signal.Notify and hands the channel over in Options.Signals.
var (
	StopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}
	PassSignals = []os.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}
)

// Options are Run's inputs besides the processes. The zero value is what
// nd-init uses in a container.
type Options struct {
	Stdout, Stderr io.Writer // nil: os.Stdout, os.Stderr
	// Signals delivers StopSignals and PassSignals (nil: none). SIGCHLD is
	// Run's own business.
	Signals <-chan os.Signal
	// PasswdFile and GroupFile resolve Process.User ("": /etc/passwd, /etc/group).
	PasswdFile, GroupFile string
	// Environ is the environment that each Process.Environment is merged
	// over (nil: os.Environ()).
	Environ []string
	// RetryUnit is the unit of restart delays (0: one second). Tests shorten it.
	RetryUnit time.Duration
	// ReadyFile, if set, is removed at start and created once every
	// oneshot has succeeded and every long-running process has stayed up
	// for its startsecs or listens on a socket (listen.go): deploys wait
	// for it (nd-init probe-ready) before they count a new container as
	// started.
	ReadyFile string
}

// ReadyFile is where nd-init records that the container's processes have
// started (Options.ReadyFile): /tmp exists, sticky and writable, in every
// nd image, so a non-root nd-init can write it and apps cannot remove it.
const ReadyFile = "/tmp/.nd-init-ready"

// ExitError says why the container failed; Code is nd-init's exit status.
type ExitError struct {
	Code   int
	Reason string
}

func (e *ExitError) Error() string { return e.Reason }

// ExitCode maps Run's result to nd-init's exit status: 0 for nil, the
// ExitError's code, or ExitConfig for any other error.
func ExitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	default:
		return ExitConfig
	}
}

type state int

const (
	stIdle     state = iota // not started yet
	stStarting              // spawned, StartSecs not yet reached
	stRunning
	stBackoff // waiting to be spawned again
	stExited  // done for good
	stFatal   // failed to start too often
)

type proc struct {
	*prepared
	state        state
	pid          int // 0 when not running
	pgid         int // of the last spawn, to kill leftovers
	gen          int // spawn count; stale timers compare it
	startedAt    time.Time
	failedStarts int  // consecutive starts that ended before StartSecs
	started      bool // has once stayed up for StartSecs
	listened     bool // its current run holds a listening socket (listen.go)
	quick        int  // consecutive restarts without a run of ResetAfter
	timer        *time.Timer
	outDone      chan struct{} // closed when the last spawn's output is drained
}

type supervisor struct {
	opts      Options
	grace     time.Duration
	unit      time.Duration
	oneshots  []*proc
	services  []*proc
	all       []*proc
	byPid     map[int]*proc
	devnull   *os.File
	out, errs *lineWriter

	next            int  // index of the next oneshot to run
	servicesStarted bool // all oneshots done, services spawned
	ready           bool // ReadyFile written
	stopping        bool
	requested       bool       // the stop came from a signal or ctx
	failure         *ExitError // the container failed
	firstExit       *ExitError // first non-zero exit of a process not restarted
	finished        bool
	graceTimer      *time.Timer

	events chan func()
	quit   chan struct{}
	wg     sync.WaitGroup // output copiers and delayed log lines
}

// Run starts the processes and supervises them until the container should
// end: all stopped after a stop signal (nil), a failure (*ExitError), or
// every process exited for good (nil, or *ExitError with the first non-zero
// status). Errors in the processes file or in resolving users come back
// before anything starts, as plain errors.
//
// Run reaps every child of this process with wait4(-1), so nothing else in
// the process may start children while it runs. When not PID 1 it makes
// itself a child subreaper so that orphans still come to it.
func Run(ctx context.Context, procs *manifest.Processes, opts Options) error {
	if err := Validate(procs); err != nil {
		return err
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.ReadyFile != "" {
		// A restarted container keeps its files: readiness is per start.
		os.Remove(opts.ReadyFile)
	}
	if opts.PasswdFile == "" {
		opts.PasswdFile = "/etc/passwd"
	}
	if opts.GroupFile == "" {
		opts.GroupFile = "/etc/group"
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	s := &supervisor{
		opts:   opts,
		grace:  time.Duration(procs.StopGracePeriod) * time.Second,
		unit:   opts.RetryUnit,
		byPid:  map[int]*proc{},
		out:    &lineWriter{w: opts.Stdout},
		errs:   &lineWriter{w: opts.Stderr},
		events: make(chan func(), 16),
		quit:   make(chan struct{}),
	}
	if s.grace == 0 {
		s.grace = DefaultStopGracePeriod
	}
	if s.unit == 0 {
		s.unit = time.Second
	}
	for _, pr := range procs.Processes {
		pp, err := prepare(pr, &opts)
		if err != nil {
			return err
		}
		p := &proc{prepared: pp}
		if pr.Oneshot {
			s.oneshots = append(s.oneshots, p)
		} else {
			s.services = append(s.services, p)
		}
		s.all = append(s.all, p)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("opening stdin for processes: %w", err)
	}
	defer devnull.Close()
	s.devnull = devnull
	return s.run(ctx)
}

func (s *supervisor) run(ctx context.Context) error {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)
	// A broken stdout must give EPIPE, not kill PID 1. Notify rather than
	// Ignore: an ignored signal would stay ignored in the children.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)
	if os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			s.logf("cannot become child subreaper, orphans will not be reaped: %v", err)
		}
	}

	s.startNext()
	s.checkDone()
	done := ctx.Done()
	for !s.finished {
		select {
		case <-sigchld:
			s.reap()
		case sig := <-s.opts.Signals:
			s.handleSignal(sig)
		case <-done:
			done = nil
			s.requested = true
			s.stop(syscall.SIGTERM)
		case f := <-s.events:
			f()
		}
		s.checkDone()
	}
	close(s.quit)
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	for _, p := range s.all {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	// Let the last lines out; a leftover grandchild holding a pipe must not
	// keep the container alive.
	drained := make(chan struct{})
	go func() { s.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}

	switch {
	case s.failure != nil:
		s.logf("container failed: %s", s.failure.Reason)
		return s.failure
	case s.requested:
		s.logf("stopped")
		return nil
	case s.firstExit != nil:
		s.logf("all processes exited; first failure: %s", s.firstExit.Reason)
		return s.firstExit
	default:
		s.logf("all processes exited")
		return nil
	}
}

// post runs f on the supervisor's loop; it does nothing once the loop ended.
func (s *supervisor) post(f func()) {
	select {
	case s.events <- f:
	case <-s.quit:
	}
}

func (s *supervisor) logf(format string, a ...any) {
	s.errs.writeLine("nd-init | ", []byte(fmt.Sprintf(format, a...)))
}

// logAfterOutput logs once p's output so far is written (or after a short
// wait), so "exited" comes after the last words of the process.
func (s *supervisor) logAfterOutput(p *proc, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if p.outDone == nil {
		s.logf("%s", msg)
		return
	}
	s.whenOutputDone(p, func() { s.logf("%s", msg) })
}

func (s *supervisor) whenOutputDone(p *proc, f func()) {
	done := p.outDone
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(500 * time.Millisecond)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
		f()
	}()
}

// startNext starts the next oneshot, or all services when the oneshots are done.
func (s *supervisor) startNext() {
	if s.stopping {
		return
	}
	if s.next < len(s.oneshots) {
		p := s.oneshots[s.next]
		s.next++
		s.spawn(p)
		return
	}
	s.servicesStarted = true
	for _, p := range s.services {
		s.spawn(p)
	}
	s.checkReady()
	s.pollListening()
}

// markStarted records that p stayed up for its startsecs (at once when it
// has none) and writes the ready file when that completes the set.
func (s *supervisor) markStarted(p *proc) {
	p.started = true
	s.checkReady()
}

func (s *supervisor) checkReady() {
	if s.ready || s.opts.ReadyFile == "" || !s.servicesStarted || s.stopping {
		return
	}
	for _, p := range s.services {
		if !p.started && !p.listened {
			return
		}
	}
	s.ready = true
	if err := os.WriteFile(s.opts.ReadyFile, []byte("ready\n"), 0o644); err != nil {
		s.logf("cannot write %s: %v", s.opts.ReadyFile, err)
		return
	}
	s.logf("all processes started")
}

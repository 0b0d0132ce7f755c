package supervise

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stopping: signals passed on or stopping the container, the stop
// sequence (TERM, then KILL after the grace time) and the end of Run.

// fail records the container's failure and stops everything else.
func (s *supervisor) fail(code int, reason string) {
	if s.failure == nil {
		s.failure = &ExitError{Code: code, Reason: reason}
	}
	s.stop(syscall.SIGTERM)
}

func (s *supervisor) handleSignal(sig os.Signal) {
	ss, ok := sig.(syscall.Signal)
	if !ok {
		return
	}
	for _, stop := range StopSignals {
		if sig == stop {
			if !s.stopping {
				s.requested = true
				s.logf("got %s, stopping", unix.SignalName(ss))
			}
			s.stop(ss)
			return
		}
	}
	s.signalAll(ss)
}

// stop sends sig to every running process and starts the grace period, after
// which the rest is killed. Called again, it only sends sig again.
func (s *supervisor) stop(sig syscall.Signal) {
	if !s.stopping {
		s.stopping = true
		for _, p := range s.all {
			if p.timer != nil {
				p.timer.Stop()
				p.timer = nil
			}
			if p.state == stBackoff {
				p.state = stExited
			}
		}
		if s.live() > 0 {
			s.logf("sending %s to %d processes; SIGKILL in %s", unix.SignalName(sig), s.live(), s.grace)
			s.graceTimer = time.AfterFunc(s.grace, func() { s.post(s.killAll) })
		}
	}
	s.signalAll(sig)
}

func (s *supervisor) killAll() {
	for _, p := range s.all {
		if p.pid != 0 {
			s.logf("%s still running after %s; sending SIGKILL", p.Name, s.grace)
			s.signal(p, syscall.SIGKILL)
		}
	}
}

func (s *supervisor) signalAll(sig syscall.Signal) {
	for _, p := range s.all {
		if p.pid != 0 {
			s.signal(p, sig)
		}
	}
}

// signal sends sig to p's process group, or to p alone if it left its group.
func (s *supervisor) signal(p *proc, sig syscall.Signal) {
	if err := syscall.Kill(-p.pgid, sig); err != nil {
		syscall.Kill(p.pid, sig) //nolint:errcheck // it may be gone already
	}
}

func (s *supervisor) live() int {
	n := 0
	for _, p := range s.all {
		if p.pid != 0 {
			n++
		}
	}
	return n
}

func (s *supervisor) checkDone() {
	if s.finished || s.live() > 0 {
		return
	}
	if !s.stopping {
		if !s.servicesStarted {
			return
		}
		for _, p := range s.services {
			if p.state != stExited && p.state != stFatal {
				return
			}
		}
	}
	// Whatever is left in the process groups (background children of
	// processes that are gone) ends with the container.
	for _, p := range s.all {
		if p.pgid != 0 {
			syscall.Kill(-p.pgid, syscall.SIGKILL) //nolint:errcheck // usually nothing is left
		}
	}
	s.finished = true
}

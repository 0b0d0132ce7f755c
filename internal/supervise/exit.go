package supervise

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What follows a process's end: reaping, supervisord's autorestart and
// startsecs rules, restart back-off.

// reap collects every exited child: supervised ones are handled, orphans
// that were reparented to us are just buried. It is the only place that
// waits, so no exit status is lost to a competing wait.
func (s *supervisor) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		p := s.byPid[pid]
		if p == nil {
			continue
		}
		delete(s.byPid, pid)
		p.pid = 0
		switch {
		case ws.Exited():
			s.ended(p, ws.ExitStatus(), fmt.Sprintf("exited with status %d", ws.ExitStatus()))
		case ws.Signaled():
			s.ended(p, 128+int(ws.Signal()), "killed by "+unix.SignalName(ws.Signal()))
		default:
			s.ended(p, 1, fmt.Sprintf("ended with wait status %#x", uint32(ws)))
		}
	}
}

// ended decides what follows the end (or failed spawn) of p.
func (s *supervisor) ended(p *proc, code int, desc string) {
	wasStarting := p.state == stStarting
	ran := time.Since(p.startedAt)
	p.listened = false
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if s.stopping {
		p.state = stExited
		s.logAfterOutput(p, "%s %s", p.Name, desc)
		return
	}
	if p.Oneshot {
		p.state = stExited
		if code != 0 {
			s.logAfterOutput(p, "oneshot %s %s", p.Name, desc)
			s.fail(code, fmt.Sprintf("oneshot %s %s", p.Name, desc))
			return
		}
		s.logAfterOutput(p, "oneshot %s done", p.Name)
		s.whenOutputDone(p, func() { s.post(s.startNext) })
		return
	}
	if wasStarting {
		p.failedStarts++
		if p.failedStarts > StartRetries {
			p.state = stFatal
			reason := fmt.Sprintf("%s %s within startsecs=%d, %d times; giving up (FATAL)", p.Name, desc, p.StartSecs, p.failedStarts)
			s.logAfterOutput(p, "%s", reason)
			if code == 0 {
				code = 1
			}
			s.fail(code, reason)
			return
		}
		d := time.Duration(p.failedStarts) * s.unit
		s.logAfterOutput(p, "%s %s within startsecs=%d; retrying in %s", p.Name, desc, p.StartSecs, d)
		s.restartIn(p, d)
		return
	}
	restart := p.AutoRestart == "true" || (p.AutoRestart != "false" && code != 0)
	if !restart {
		p.state = stExited
		if code != 0 && s.firstExit == nil {
			s.firstExit = &ExitError{Code: code, Reason: fmt.Sprintf("%s %s", p.Name, desc)}
		}
		s.logAfterOutput(p, "%s %s; not restarting (autorestart=%s)", p.Name, desc, autorestart(p))
		return
	}
	if ran >= ResetAfter {
		p.quick = 0
	}
	var d time.Duration
	if p.quick > 0 {
		d = min(s.unit<<(p.quick-1), 30*s.unit)
	}
	if p.quick < 16 {
		p.quick++
	}
	s.logAfterOutput(p, "%s %s; restarting in %s", p.Name, desc, d)
	s.restartIn(p, d)
}

func autorestart(p *proc) string {
	if p.AutoRestart == "" {
		return "unexpected"
	}
	return p.AutoRestart
}

func (s *supervisor) restartIn(p *proc, d time.Duration) {
	p.state = stBackoff
	gen := p.gen
	p.timer = time.AfterFunc(d, func() {
		s.post(func() {
			if p.gen == gen && p.state == stBackoff && !s.stopping {
				s.spawn(p)
			}
		})
	})
}

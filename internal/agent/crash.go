package agent

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// CrashEnv names the environment variable of a test-only hook: nd-agent
// serve kills itself with SIGKILL at the named step of a release, so tests
// can interrupt a deploy exactly there, for real. A step is one of
// release.go's crash points ("intent", "prepared", "root", "started",
// "committed", "retained"), image mode's "pulled" (before the release),
// a head start's "image prepared", or "progress:TEXT[|TEXT...][+DURATION]": the
// first progress message containing one of the TEXTs, DURATION after it.
const CrashEnv = "ND_AGENT_CRASH_AT"

// crashPoint is a named step of the release path.
func (a *Agent) crashPoint(step string) {
	if a.cfg.CrashAt != "" && a.cfg.CrashAt == step {
		a.crash(step)
	}
}

func (a *Agent) crash(step string) {
	a.log.Warn("crashing on purpose ("+CrashEnv+")", "step", step)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; nothing after this runs
}

// crashOnProgress wraps progress for a "progress:" crash step.
func (a *Agent) crashOnProgress(progress func(stage, msg string)) func(stage, msg string) {
	text, ok := strings.CutPrefix(a.cfg.CrashAt, "progress:")
	if !ok {
		return progress
	}
	var delay time.Duration
	if t, d, ok := strings.Cut(text, "+"); ok {
		if dd, err := time.ParseDuration(d); err == nil {
			text, delay = t, dd
		}
	}
	texts := strings.Split(text, "|")
	fired := false
	return func(stage, msg string) {
		progress(stage, msg)
		if fired || !slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(msg, t) }) {
			return
		}
		fired = true
		if delay == 0 {
			a.crash(a.cfg.CrashAt)
		}
		time.AfterFunc(delay, func() { a.crash(a.cfg.CrashAt) })
	}
}

package supervise

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Starting a process: fork and exec with its user, directory and output
// pipes, and finding its program on the process's PATH.

func (s *supervisor) spawn(p *proc) {
	p.timer = nil
	p.gen++
	p.startedAt = time.Now()
	if !p.Oneshot && p.StartSecs > 0 {
		p.state = stStarting
	} else {
		p.state = stRunning
	}
	pid, err := s.forkExec(p)
	if err != nil {
		code := ExitCannotRun
		if errors.Is(err, fs.ErrNotExist) {
			code = ExitNotFound
		}
		// A failed spawn is a failed start, whatever StartSecs says.
		p.outDone = nil
		p.state = stStarting
		s.ended(p, code, fmt.Sprintf("could not start: %v", err))
		return
	}
	p.pid, p.pgid = pid, pid
	s.byPid[pid] = p
	s.logf("started %s (pid %d)", p.Name, pid)
	if p.state == stStarting {
		gen := p.gen
		p.timer = time.AfterFunc(time.Duration(p.StartSecs)*time.Second, func() {
			s.post(func() {
				if p.gen == gen && p.state == stStarting {
					p.state = stRunning
					p.failedStarts = 0
					s.markStarted(p)
				}
			})
		})
	} else {
		p.failedStarts = 0
		if !p.Oneshot {
			s.markStarted(p)
		}
	}
}

// forkExec starts p in its own process group with stdin from /dev/null and
// stdout/stderr through prefixing pipes. It does not wait: reap does.
func (s *supervisor) forkExec(p *proc) (int, error) {
	exe, err := lookPath(p.argv[0], p.path)
	if err != nil {
		return 0, err
	}
	if p.Directory != "" {
		if _, err := os.Stat(p.Directory); err != nil {
			return 0, fmt.Errorf("directory: %w", err)
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("making stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, fmt.Errorf("making stderr pipe: %w", err)
	}
	attr := &syscall.ProcAttr{
		Dir:   p.Directory,
		Env:   p.env,
		Files: []uintptr{s.devnull.Fd(), outW.Fd(), errW.Fd()},
		Sys: &syscall.SysProcAttr{
			Setpgid:    true,
			Credential: p.cred,
			// Only matters when not PID 1 (tests): children die with us.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	pid, err := syscall.ForkExec(exe, p.argv, attr)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, fmt.Errorf("executing %s: %w", exe, err)
	}
	done := make(chan struct{})
	var both sync.WaitGroup
	prefix := p.Name + " | "
	for _, c := range []struct {
		r *os.File
		w *lineWriter
	}{{outR, s.out}, {errR, s.errs}} {
		both.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer both.Done()
			defer c.r.Close()
			copyLines(c.w, prefix, c.r)
		}()
	}
	go func() { both.Wait(); close(done) }()
	p.outDone = done
	return pid, nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds file in pathEnv (the process's PATH, not ours).
func lookPath(file, pathEnv string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH %s: %w", file, pathEnv, fs.ErrNotExist)
}

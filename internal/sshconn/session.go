package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// stderrTail is how much of a command's stderr an error keeps.
const stderrTail = 4096

// CommandError is returned when a remote command fails or cannot run.
type CommandError struct {
	Host string
	Cmd  string
	// ExitStatus is the remote exit status, or -1 when the command ended
	// without one (killed by a signal, connection lost).
	ExitStatus int
	// Stderr is the tail of what the command wrote to stderr.
	Stderr []byte
	Err    error
}

func (e *CommandError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "running %q on %s: ", e.Cmd, e.Host)
	var ee *ssh.ExitError
	switch {
	case errors.As(e.Err, &ee) && ee.Signal() != "":
		fmt.Fprintf(&b, "killed by signal %s", ee.Signal())
	case e.ExitStatus >= 0:
		fmt.Fprintf(&b, "exit status %d", e.ExitStatus)
	default:
		b.WriteString(e.Err.Error())
	}
	if s := strings.TrimSpace(string(e.Stderr)); s != "" {
		fmt.Fprintf(&b, ": %s", s)
	}
	return b.String()
}

func (e *CommandError) Unwrap() error { return e.Err }

func (c *Client) commandError(cmd string, stderr *tailBuffer, err error) error {
	ce := &CommandError{Host: c.host, Cmd: cmd, ExitStatus: -1, Err: err}
	var ee *ssh.ExitError
	if errors.As(err, &ee) && ee.Signal() == "" {
		ce.ExitStatus = ee.ExitStatus()
	}
	if stderr != nil {
		ce.Stderr = stderr.Bytes()
	}
	return ce
}

// Run runs cmd through the remote user's shell and returns its stdout.
// A non-zero exit yields a *CommandError with the status and stderr tail.
// Cancelling ctx kills the command (best effort) and closes its channel.
func (c *Client) Run(ctx context.Context, cmd string) ([]byte, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, fmt.Errorf("opening session on %s for %q: %w", c.host, cmd, err)
	}
	defer s.Close()
	stdout := &tailBuffer{}
	stderr := &tailBuffer{max: stderrTail}
	s.Stdout = stdout
	s.Stderr = stderr
	if err := s.Start(cmd); err != nil {
		return nil, c.commandError(cmd, stderr, err)
	}
	// Session.Wait lasts until sshd closes the channel, which it does only
	// once the command exits, so a cancelled Run returns without it.
	errc := make(chan error, 1)
	go func() { errc <- s.Wait() }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.Signal(ssh.SIGKILL)
		s.Close()
		return nil, c.commandError(cmd, stderr, ctx.Err())
	}
	if err != nil {
		return stdout.Bytes(), c.commandError(cmd, stderr, err)
	}
	return stdout.Bytes(), nil
}

// Stream is a running remote command: reads come from its stdout, writes go
// to its stdin.
type Stream interface {
	io.ReadWriteCloser
	// CloseWrite sends EOF on the command's stdin.
	CloseWrite() error
	// Wait waits for the command to exit; a failure is a *CommandError.
	Wait() error
}

// Command starts cmd and returns its stdin/stdout as a Stream (e.g. for
// `nd-agent dial-stdio`). Its stderr is kept for the error and logged at
// debug level. Cancelling ctx kills the command and closes the stream.
func (c *Client) Command(ctx context.Context, cmd string) (Stream, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, fmt.Errorf("opening session on %s for %q: %w", c.host, cmd, err)
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("starting %q on %s: %w", cmd, c.host, err)
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("starting %q on %s: %w", cmd, c.host, err)
	}
	st := &stream{c: c, cmd: cmd, s: s, stdin: stdin, stdout: stdout, stderr: &tailBuffer{max: stderrTail}}
	s.Stderr = st.stderr
	if err := s.Start(cmd); err != nil {
		s.Close()
		return nil, fmt.Errorf("starting %q on %s: %w", cmd, c.host, err)
	}
	st.ctx = ctx
	st.exited = make(chan struct{})
	go func() {
		st.exitErr = s.Wait()
		close(st.exited)
	}()
	st.stop = context.AfterFunc(ctx, func() {
		s.Signal(ssh.SIGKILL)
		s.Close()
	})
	return st, nil
}

type stream struct {
	c      *Client
	cmd    string
	ctx    context.Context
	s      *ssh.Session
	stdin  io.WriteCloser
	stdout io.Reader
	stderr *tailBuffer
	stop   func() bool

	exited  chan struct{} // closed when the session ended; exitErr is set
	exitErr error

	waitOnce sync.Once
	waitErr  error
}

var _ Stream = (*stream)(nil)

func (st *stream) Read(p []byte) (int, error)  { return st.stdout.Read(p) }
func (st *stream) Write(p []byte) (int, error) { return st.stdin.Write(p) }
func (st *stream) CloseWrite() error           { return st.stdin.Close() }

func (st *stream) Wait() error {
	st.waitOnce.Do(func() {
		var err error
		select {
		case <-st.exited:
			err = st.exitErr
		case <-st.ctx.Done():
		}
		st.stop()
		if st.ctx.Err() != nil {
			err = st.ctx.Err()
		}
		if err != nil {
			st.waitErr = st.c.commandError(st.cmd, st.stderr, err)
		}
		if b := st.stderr.Bytes(); len(b) > 0 {
			st.c.log.Debug("remote command stderr", "cmd", st.cmd, "stderr", string(b))
		}
	})
	return st.waitErr
}

// Close closes the channel; the remote command sees its stdin and stdout
// close. Call Wait first to learn how a command that finished ended.
func (st *stream) Close() error {
	st.stop()
	err := st.s.Close()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// tailBuffer keeps the last max bytes written to it (all when max is 0).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if t.max > 0 && len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

package dockerrt

import (
	"bufio"
	"context"
	"fmt"
	"net"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Terminal is a command's terminal size.
type Terminal struct{ Rows, Cols uint }

// ExecOptions say how StartExec runs a command.
type ExecOptions struct {
	Cmd []string
	// TTY gives the command a terminal of Size; its output is then raw,
	// else Docker's multiplexed stream of stdout and stderr.
	TTY   bool
	Size  Terminal
	Stdin bool // attach stdin (else it is empty)
}

// execResizer is the part of the Docker client that resizes an exec's
// terminal (the full client has it; Client need not).
type execResizer interface {
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
}

// ExecStream is a command started in an app's container: dockerd's
// hijacked connection to it, handed on as it is (nd-agent splices it onto
// its client's), and what else concerns the exec.
type ExecStream struct {
	r    *Runtime
	id   string
	conn net.Conn
	br   *bufio.Reader
}

// StartExec starts a command in the app's running container, optionally
// with a terminal, and returns its stream. ctx bounds the start only.
func (r *Runtime) StartExec(ctx context.Context, app string, o ExecOptions) (*ExecStream, error) {
	eo := container.ExecOptions{
		Cmd: o.Cmd, Tty: o.TTY, AttachStdin: o.Stdin, AttachStdout: true, AttachStderr: true,
	}
	if o.TTY && o.Size.Rows > 0 && o.Size.Cols > 0 {
		eo.ConsoleSize = &[2]uint{o.Size.Rows, o.Size.Cols}
	}
	ex, err := r.c.ContainerExecCreate(ctx, ContainerName(app), eo)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("exec in %s: %w", app, ErrNoApp)
	} else if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", app, err)
	}
	hj, err := r.c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: o.TTY, ConsoleSize: eo.ConsoleSize})
	if err != nil {
		return nil, fmt.Errorf("attaching exec in %s: %w", app, err)
	}
	s := &ExecStream{r: r, id: ex.ID, conn: hj.Conn, br: hj.Reader}
	if o.TTY && o.Size.Rows > 0 && o.Size.Cols > 0 {
		// dockerd before API 1.42 ignores ConsoleSize: size it now, as the
		// docker CLI does (a command that asks at once may see 0x0).
		if err := s.Resize(ctx, o.Size.Rows, o.Size.Cols); err != nil {
			r.log.Debug("sizing exec terminal", "error", err)
		}
	}
	return s, nil
}

// Read reads the command's output (raw with a TTY, else multiplexed).
func (s *ExecStream) Read(p []byte) (int, error) { return s.br.Read(p) }

// Write writes to the command's stdin.
func (s *ExecStream) Write(p []byte) (int, error) { return s.conn.Write(p) }

// CloseWrite ends the command's stdin.
func (s *ExecStream) CloseWrite() error {
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close drops the connection (the command may still run).
func (s *ExecStream) Close() error { return s.conn.Close() }

// Resize sizes the command's terminal.
func (s *ExecStream) Resize(ctx context.Context, rows, cols uint) error {
	rs, ok := s.r.c.(execResizer)
	if !ok {
		return fmt.Errorf("this Docker client cannot resize terminals")
	}
	return rs.ContainerExecResize(ctx, s.id, container.ResizeOptions{Height: rows, Width: cols})
}

// Exited says whether the command has ended, and its exit code if so.
func (s *ExecStream) Exited(ctx context.Context) (bool, int, error) {
	ins, err := s.r.c.ContainerExecInspect(ctx, s.id)
	if err != nil {
		return false, 0, fmt.Errorf("inspecting exec %s: %w", s.id, err)
	}
	return !ins.Running, ins.ExitCode, nil
}

package dockerrt

import (
	"context"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Terminal is a command's terminal size.
type Terminal struct{ Rows, Cols uint }

// ExecOptions say how ExecTerminal runs a command.
type ExecOptions struct {
	Cmd []string
	// TTY gives the command a terminal of Size; its output is then one
	// stream (Stdout).
	TTY  bool
	Size Terminal
	// Resize, if set, delivers later terminal sizes (TTY only).
	Resize <-chan Terminal
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer
	Stderr io.Writer
}

// execResizer is the part of the Docker client that resizes an exec's
// terminal (the full client has it; Client need not).
type execResizer interface {
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
}

// ExecTerminal runs a command in the app's running container like Exec, but
// optionally with a terminal, and returns its exit code. It returns when the
// command's output ends or ctx ends (the command may then still run).
func (r *Runtime) ExecTerminal(ctx context.Context, app string, o ExecOptions) (int, error) {
	eo := container.ExecOptions{
		Cmd: o.Cmd, Tty: o.TTY, AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	}
	if o.TTY && o.Size.Rows > 0 && o.Size.Cols > 0 {
		eo.ConsoleSize = &[2]uint{o.Size.Rows, o.Size.Cols}
	}
	ex, err := r.c.ContainerExecCreate(ctx, ContainerName(app), eo)
	if cerrdefs.IsNotFound(err) {
		return -1, fmt.Errorf("exec in %s: %w", app, ErrNoApp)
	} else if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, err)
	}
	hj, err := r.c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: o.TTY, ConsoleSize: eo.ConsoleSize})
	if err != nil {
		return -1, fmt.Errorf("attaching exec in %s: %w", app, err)
	}
	defer hj.Close()
	stop := context.AfterFunc(ctx, func() { hj.Close() })
	defer stop()
	if o.Stdin != nil {
		go func() {
			io.Copy(hj.Conn, o.Stdin)
			hj.CloseWrite()
		}()
	}
	rs, canResize := r.c.(execResizer)
	if canResize && o.TTY && o.Size.Rows > 0 && o.Size.Cols > 0 {
		// dockerd before API 1.42 ignores ConsoleSize: size it now, as the
		// docker CLI does (a command that asks at once may see 0x0).
		if err := rs.ContainerExecResize(ctx, ex.ID, container.ResizeOptions{Height: o.Size.Rows, Width: o.Size.Cols}); err != nil {
			r.log.Debug("sizing exec terminal", "error", err)
		}
	}
	if canResize && o.TTY && o.Resize != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case t, ok := <-o.Resize:
					if !ok {
						return
					}
					if err := rs.ContainerExecResize(ctx, ex.ID, container.ResizeOptions{Height: t.Rows, Width: t.Cols}); err != nil {
						r.log.Debug("resizing exec terminal", "error", err)
					}
				}
			}
		}()
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if o.TTY {
		_, err = io.Copy(stdout, hj.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, hj.Reader)
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, ctx.Err())
	}
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, err)
	}
	ins, err := r.c.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, err)
	}
	return ins.ExitCode, nil
}

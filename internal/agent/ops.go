package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// Operator is implemented by a Runtime that can also report on, show the
// output of, run commands in and remove apps' containers (nd-push status,
// logs, exec, rm). Methods return an error wrapping ErrNoContainer for an app
// without a container.
type Operator interface {
	// Inspect reports on app's container.
	Inspect(ctx context.Context, app string) (*proto.ContainerStatus, error)
	// Logs streams the container's output as req selects (Tail < 0: all of
	// it). With Follow it ends when ctx ends or the reader is closed.
	Logs(ctx context.Context, app string, req proto.Logs) (io.ReadCloser, error)
	// Exec runs a command in the running container and returns its exit code.
	Exec(ctx context.Context, app string, spec ExecSpec) (int, error)
	// Remove deletes the app's containers and images, with volumes also its
	// named volumes.
	Remove(ctx context.Context, app string, volumes bool) error
}

// ExecSpec is a command run by Operator.Exec.
type ExecSpec struct {
	Cmd        []string
	TTY        bool
	Rows, Cols uint
	Stdin      io.Reader // nil: empty stdin
	Stdout     io.Writer
	Stderr     io.Writer // unused with TTY
	// Resize delivers terminal size changes (TTY only); may be nil.
	Resize <-chan proto.Resize
}

// ErrNoContainer is wrapped by Operator errors about an app that has no
// container.
var ErrNoContainer = errors.New("no container")

func (a *Agent) opHandlers() map[proto.Type]func(context.Context, *proto.Conn, proto.Envelope) error {
	return map[proto.Type]func(context.Context, *proto.Conn, proto.Envelope) error{
		proto.TypeRollback: a.handleRollback,
		proto.TypeLogs:     a.handleLogs,
		proto.TypeRemove:   a.handleRemove,
		proto.TypeExec:     a.handleExec,
		proto.TypeRestart:  a.handleLifecycle,
		proto.TypeStop:     a.handleLifecycle,
		proto.TypeStart:    a.handleLifecycle,
	}
}

func (a *Agent) operator(ctx context.Context) (Operator, error) {
	if op, ok := a.cfg.Runtime.(Operator); ok {
		if err := a.requireDocker(ctx); err != nil {
			return nil, err
		}
		return op, nil
	}
	return nil, codef(proto.CodeUnsupported, "nd-agent has no container runtime that can do this")
}

func checkApp(app string) error {
	if !manifest.ValidName(app) {
		return codef(proto.CodeBadRequest, "bad app name %q", app)
	}
	return nil
}

// noContainer turns an Operator's ErrNoContainer into a not-found error.
func noContainer(app string, err error) error {
	if errors.Is(err, ErrNoContainer) {
		return codef(proto.CodeNotFound, "%s has no container on this host", app)
	}
	return err
}

// addContainerStatus fills st.Container from the runtime. Only an app that
// truly has no container is left without one: any other failure to ask is
// the request's error, never reported as "no container".
func (a *Agent) addContainerStatus(ctx context.Context, st *proto.AppStatus) error {
	op, ok := a.cfg.Runtime.(Operator)
	if !ok {
		return nil
	}
	cs, err := op.Inspect(ctx, st.App)
	if errors.Is(err, ErrNoContainer) {
		return nil
	}
	if err != nil {
		if perr := a.requireDocker(ctx); perr != nil {
			return perr
		}
		return fmt.Errorf("inspecting the container of %s: %w", st.App, err)
	}
	st.Container = cs
	return nil
}

func (a *Agent) handleRollback(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var req proto.Rollback
	if err := proto.Decode(env, proto.TypeRollback, &req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkApp(req.App); err != nil {
		return err
	}
	progress := a.progressTo(c)
	res, err := a.Rollback(ctx, req, progress)
	if err != nil {
		return err
	}
	return c.Send(proto.TypeDeployed, &res)
}

// describeGenerations lists st's generations for an error message.
func describeGenerations(st *appState) string {
	var b strings.Builder
	for _, g := range st.Generations {
		fmt.Fprintf(&b, "\n  %d  %s  %s", g.Number, g.DeployedAt.Format("2006-01-02 15:04:05Z"), g.Package)
		if g.Number == st.Current {
			b.WriteString("  (current)")
		}
	}
	return b.String()
}

// Rollback deploys the package (and secrets) of an earlier generation as a
// new generation. Nothing is transferred: the generations the agent keeps
// are GC roots.
func (a *Agent) Rollback(ctx context.Context, req proto.Rollback, progress func(stage, msg string)) (proto.Deployed, error) {
	var res proto.Deployed
	if a.cfg.Runtime == nil {
		return res, codef(proto.CodeDeploy, "nd-agent has no container runtime configured")
	}
	if err := a.requireDocker(ctx); err != nil {
		return res, err
	}
	unlock, err := a.lockAppFor(ctx, req.App, progress)
	if err != nil {
		return res, err
	}
	defer unlock()

	if err := a.reconcileLocked(ctx, req.App, false); err != nil {
		return res, withCode(proto.CodeDeploy, fmt.Errorf("repairing an interrupted deploy of %s first: %w", req.App, err))
	}
	st, err := a.loadState(req.App)
	if err != nil {
		return res, err
	}
	cur := st.current()
	if cur == nil {
		return res, codef(proto.CodeNotFound, "%s is not deployed on this host", req.App)
	}
	var target *proto.Generation
	if req.Generation == 0 {
		for i := len(st.Generations) - 1; i >= 0; i-- {
			g := &st.Generations[i]
			if g.Number < cur.Number && (g.Package != cur.Package || g.Secrets != cur.Secrets) {
				target = g
				break
			}
		}
		if target == nil {
			return res, codef(proto.CodeNotFound, "%s has no earlier generation to roll back to; generations on this host:%s", req.App, describeGenerations(st))
		}
	} else {
		for i := range st.Generations {
			if st.Generations[i].Number == req.Generation {
				target = &st.Generations[i]
			}
		}
		if target == nil {
			return res, codef(proto.CodeNotFound, "%s has no generation %d on this host (older ones are garbage-collected); available:%s", req.App, req.Generation, describeGenerations(st))
		}
		if target.Number == cur.Number {
			return res, codef(proto.CodeBadRequest, "generation %d of %s is the current one", target.Number, req.App)
		}
		if target.Package == cur.Package && target.Secrets == cur.Secrets {
			return res, codef(proto.CodeBadRequest, "generation %d of %s runs what the current generation %d runs already", target.Number, req.App, cur.Number)
		}
	}
	m, err := a.generationManifest(ctx, req.App, *target)
	if err != nil {
		return res, err
	}
	if target.Mode == manifest.ModeImage {
		ir, err := a.imageRuntime(ctx)
		if err != nil {
			return res, err
		}
		if err := ir.CheckImage(ctx, target.ImageID, req.App, target.Package); err != nil {
			return res, codef(proto.CodeNotFound, "the image of %s generation %d is no longer on this host: %v", req.App, target.Number, err)
		}
	}
	var closure []string
	if target.Mode != manifest.ModeImage {
		if closure, err = a.packageClosure(ctx, target.Package, m); err != nil {
			return res, err
		}
	}
	g := proto.Generation{Package: target.Package, PushedBy: req.PushedBy, Secrets: target.Secrets,
		RollbackOf: target.Number, Mode: target.Mode, ImageID: target.ImageID}
	res, err = a.release(ctx, st, release{
		Op: intentRollback, Gen: g, Manifest: m, Closure: closure,
		Describe: func(n int) string {
			return fmt.Sprintf("%s generation %d: rollback to generation %d (%s)", req.App, n, target.Number, target.Package)
		},
	}, progress)
	if err != nil {
		return res, err
	}
	a.log.Info("rolled back", "app", req.App, "generation", res.Generation, "to", target.Number, "package", target.Package)
	return res, nil
}

// watchClosed cancels the returned context when the client closes the
// stream (or sends anything: no message is expected).
func watchClosed(ctx context.Context, c *proto.Conn) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		c.Recv()
		cancel()
	}()
	return ctx, cancel
}

func (a *Agent) handleLogs(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var req proto.Logs
	if err := proto.Decode(env, proto.TypeLogs, &req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkApp(req.App); err != nil {
		return err
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := watchClosed(ctx, c)
	defer cancel()
	rc, err := op.Logs(ctx, req.App, req)
	if err != nil {
		return noContainer(req.App, err)
	}
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	defer rc.Close()
	if err := c.Send(proto.TypeLogsStarted, &proto.LogsStarted{}); err != nil {
		return nil
	}
	w := c.DataWriter()
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return nil // the client went away
			}
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return nil
			}
			if rerr != io.EOF {
				w.Close()
				return fmt.Errorf("reading logs of %s: %w", req.App, rerr)
			}
			break
		}
	}
	if err := w.Close(); err != nil {
		return nil
	}
	return c.Send(proto.TypeLogsDone, &proto.LogsDone{})
}

func (a *Agent) handleRemove(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var req proto.Remove
	if err := proto.Decode(env, proto.TypeRemove, &req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkApp(req.App); err != nil {
		return err
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	unlock, err := a.lockAppFor(ctx, req.App, a.progressTo(c))
	if err != nil {
		return err
	}
	defer unlock()
	var res proto.Removed
	st, err := a.loadState(req.App)
	var se *StateError
	switch {
	case errors.As(err, &se):
		// Removing the app is one way out of an unreadable state.
		a.log.Warn("removing an app whose state is unreadable", "app", req.App, "file", se.File)
	case err != nil:
		return err
	default:
		res.Generations = len(st.Generations)
	}
	err = op.Remove(ctx, req.App, req.Volumes)
	switch {
	case err == nil:
		res.Container = true
	case errors.Is(err, ErrNoContainer):
		if res.Generations == 0 && se == nil {
			return codef(proto.CodeNotFound, "%s is not deployed on this host", req.App)
		}
	default:
		return fmt.Errorf("removing %s: %w", req.App, err)
	}
	// The container is gone: now its packages may be collected, and its
	// state (with its secrets) goes.
	if err := os.RemoveAll(filepath.Join(a.cfg.GCRoots, req.App)); err != nil {
		return fmt.Errorf("removing GC roots of %s: %w", req.App, err)
	}
	if err := os.RemoveAll(filepath.Join(a.appsDir(), req.App)); err != nil {
		return fmt.Errorf("removing state of %s: %w", req.App, err)
	}
	a.log.Info("removed", "app", req.App, "volumes", req.Volumes)
	return c.Send(proto.TypeRemoved, &res)
}

// outputWriter sends what is written as Output messages of one stream.
type outputWriter struct {
	c      *proto.Conn
	stream int
}

func (w outputWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 32<<10)
		if err := w.c.Send(proto.TypeOutput, &proto.Output{Stream: w.stream, Data: p[:k]}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (a *Agent) handleExec(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var req proto.Exec
	if err := proto.Decode(env, proto.TypeExec, &req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkApp(req.App); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return codef(proto.CodeBadRequest, "exec: no command")
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spec := ExecSpec{
		Cmd: req.Cmd, TTY: req.TTY, Rows: req.Rows, Cols: req.Cols,
		Stdout: outputWriter{c, 1}, Stderr: outputWriter{c, 2},
	}
	resize := make(chan proto.Resize, 4)
	spec.Resize = resize
	var stdinW *io.PipeWriter
	if req.Stdin {
		var pr *io.PipeReader
		pr, stdinW = io.Pipe()
		spec.Stdin = pr
		defer pr.Close()
	}
	if err := c.Send(proto.TypeExecStarted, &proto.ExecStarted{}); err != nil {
		return nil
	}
	// The client's messages: stdin, resizes; the end of the stream ends
	// the exec.
	go func() {
		defer cancel()
		for {
			env, err := c.Recv()
			if err != nil {
				if stdinW != nil {
					stdinW.CloseWithError(io.ErrUnexpectedEOF)
				}
				return
			}
			switch env.Type {
			case proto.TypeInput:
				var in proto.Input
				if proto.Decode(env, proto.TypeInput, &in) != nil || stdinW == nil {
					continue
				}
				if len(in.Data) > 0 {
					stdinW.Write(in.Data)
				}
				if in.EOF {
					stdinW.Close()
				}
			case proto.TypeResize:
				var rs proto.Resize
				if proto.Decode(env, proto.TypeResize, &rs) == nil {
					select {
					case resize <- rs:
					default:
					}
				}
			}
		}
	}()
	code, err := op.Exec(ctx, req.App, spec)
	if err != nil {
		return noContainer(req.App, err)
	}
	a.log.Info("exec", "app", req.App, "command", req.Cmd[0], "exitCode", code)
	return c.Send(proto.TypeExecExited, &proto.ExecExited{Code: code})
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
	// Exec starts a command in the running container and returns its
	// stream; ctx bounds the start only.
	Exec(ctx context.Context, app string, spec ExecSpec) (ExecStream, error)
	// Remove deletes the app's containers and images, with volumes also its
	// named volumes.
	Remove(ctx context.Context, app string, volumes bool) error
}

// ExecSpec is a command started by Operator.Exec.
type ExecSpec struct {
	Cmd        []string
	TTY        bool
	Rows, Cols uint
	Stdin      bool // attach stdin (else it is empty)
}

// ExecStream is a started command's connection to the runtime: what is
// written is its stdin, what is read its output (raw with a TTY, else
// Docker's multiplexed stream). The agent splices it onto the client's
// upgraded connection as it is.
type ExecStream interface {
	io.ReadWriteCloser
	// CloseWrite ends the command's stdin.
	CloseWrite() error
	// Resize sizes its terminal.
	Resize(ctx context.Context, rows, cols uint) error
	// Exited says whether it has ended, and its exit code if so.
	Exited(ctx context.Context) (exited bool, code int, err error)
}

// ErrNoContainer is wrapped by Operator errors about an app that has no
// container.
var ErrNoContainer = errors.New("no container")

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

// containerStatus asks the runtime about app's container. Only an app that
// truly has no container is left without one (nil): any other failure to
// ask is the request's error, never reported as "no container".
func (a *Agent) containerStatus(ctx context.Context, app string) (*proto.ContainerStatus, error) {
	op, ok := a.cfg.Runtime.(Operator)
	if !ok {
		return nil, nil
	}
	cs, err := op.Inspect(ctx, app)
	if errors.Is(err, ErrNoContainer) {
		return nil, nil
	}
	if err != nil {
		if perr := a.requireDocker(ctx); perr != nil {
			return nil, perr
		}
		return nil, fmt.Errorf("inspecting the container of %s: %w", app, err)
	}
	return cs, nil
}

func (a *Agent) handleRollback(ctx context.Context, c *call) error {
	var req proto.Rollback
	if err := c.decode(&req); err != nil {
		return err
	}
	req.App = c.r.PathValue("app")
	if err := checkApp(req.App); err != nil {
		return err
	}
	res, err := a.Rollback(ctx, req, c.progress)
	if err != nil {
		return err
	}
	return c.reply(&res)
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

// handleLogs streams the container's output as the body, for as long as
// the client reads it (a follow ends with the client's connection).
func (a *Agent) handleLogs(ctx context.Context, c *call) error {
	req, err := logsRequest(c.r)
	if err != nil {
		return err
	}
	if err := checkApp(req.App); err != nil {
		return err
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.r.Context(), cancel)
	defer stop()
	rc, err := op.Logs(ctx, req.App, req)
	if err != nil {
		return noContainer(req.App, err)
	}
	stopRead := context.AfterFunc(ctx, func() { rc.Close() })
	defer stopRead()
	defer rc.Close()
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	rcw := http.NewResponseController(c.w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, err := c.w.Write(buf[:n]); err != nil {
				return nil // the client went away
			}
			rcw.Flush()
		}
		if rerr == io.EOF || ctx.Err() != nil {
			return nil
		}
		if rerr != nil {
			// The body is cut short: the client sees it end early.
			a.log.Error("reading logs", "app", req.App, "error", rerr)
			panic(http.ErrAbortHandler)
		}
	}
}

// logsRequest reads RouteLogs' query parameters.
func logsRequest(r *http.Request) (proto.Logs, error) {
	q := r.URL.Query()
	req := proto.Logs{App: r.PathValue("app"), Tail: -1, Follow: q.Get("follow") == "1", Timestamps: q.Get("timestamps") == "1"}
	var err error
	if v := q.Get("tail"); v != "" {
		if req.Tail, err = strconv.Atoi(v); err != nil {
			return req, codef(proto.CodeBadRequest, "logs: bad tail %q", v)
		}
	}
	if v := q.Get("since"); v != "" {
		if req.Since, err = strconv.ParseInt(v, 10, 64); err != nil {
			return req, codef(proto.CodeBadRequest, "logs: bad since %q", v)
		}
	}
	return req, nil
}

func (a *Agent) handleRemove(ctx context.Context, c *call) error {
	req := proto.Remove{App: c.r.PathValue("app"), Volumes: c.r.URL.Query().Get("volumes") == "1"}
	if err := checkApp(req.App); err != nil {
		return err
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	unlock, err := a.lockAppFor(ctx, req.App, c.progress)
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
	return c.reply(&res)
}

package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nd-project/nd/internal/proto"
)

// execKeep is how long an exec whose stream ended stays known, for its
// client to ask for the exit code.
const execKeep = time.Minute

// execEntry is an exec the agent started, until its exit code is read.
type execEntry struct {
	app   string
	st    ExecStream
	ended time.Time // zero while its stream is spliced
}

// handleExec starts the command, upgrades the client's connection
// (101 Switching Protocols, as Docker's exec does) and splices it onto the
// runtime's stream of the command: one copy each way, no framing of ours.
// The client asks for the exit code (RouteExecInspect) once the output ends,
// and sends resizes as requests of their own.
func (a *Agent) handleExec(ctx context.Context, c *call) error {
	// Counted before the connection leaves the server's care (Hijack), so
	// that Serve, once Shutdown returns, waits for it.
	a.hijacked.Add(1)
	defer a.hijacked.Done()
	var req proto.Exec
	if err := c.decode(&req); err != nil {
		return err
	}
	req.App = c.r.PathValue("app")
	if err := checkApp(req.App); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return codef(proto.CodeBadRequest, "exec: no command")
	}
	if !strings.EqualFold(c.r.Header.Get("Upgrade"), proto.ExecUpgrade) {
		return codef(proto.CodeBadRequest, "exec: the request must upgrade the connection (Upgrade: %s)", proto.ExecUpgrade)
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	st, err := op.Exec(ctx, req.App, ExecSpec{Cmd: req.Cmd, TTY: req.TTY, Rows: req.Rows, Cols: req.Cols, Stdin: req.Stdin})
	if err != nil {
		return noContainer(req.App, err)
	}
	defer st.Close()
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		return fmt.Errorf("exec in %s: upgrading the connection: %w", req.App, err)
	}
	defer conn.Close()
	c.mu.Lock()
	c.hijacked = true
	c.mu.Unlock()
	id := randomID()
	a.addExec(id, req.App, st)
	defer a.endExec(id)

	ct := proto.ContentTypeMultiplexedStream
	if req.TTY {
		ct = proto.ContentTypeRawStream
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\nContent-Type: %s\r\n%s: %s\r\n\r\n",
		proto.ExecUpgrade, ct, proto.ExecIDHeader, id)
	if err := brw.Flush(); err != nil {
		return nil // the client went away
	}
	// The agent stopping ends the splice; so does the client going away:
	// without stdin, the end of its side; with stdin, writing to it failing.
	stop := context.AfterFunc(ctx, func() { conn.Close(); st.Close() })
	defer stop()
	go func() {
		if req.Stdin {
			io.Copy(st, brw.Reader)
			st.CloseWrite()
			return
		}
		io.Copy(io.Discard, brw.Reader)
		st.Close()
	}()
	io.Copy(conn, st)
	a.log.Info("exec", "app", req.App, "command", req.Cmd[0], "id", id)
	return nil
}

func (a *Agent) addExec(id, app string, st ExecStream) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.execs {
		if !e.ended.IsZero() && time.Since(e.ended) > execKeep {
			delete(a.execs, k)
		}
	}
	a.execs[id] = &execEntry{app: app, st: st}
}

func (a *Agent) endExec(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.execs[id]; e != nil {
		e.ended = time.Now()
	}
}

func (a *Agent) execFor(c *call) (*execEntry, error) {
	id := c.r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.execs[id]
	if e == nil {
		return nil, codef(proto.CodeNotFound, "no exec %q on this host (its exit code is kept for %v)", id, execKeep)
	}
	return e, nil
}

// handleExecInspect says whether an exec still runs, and its exit code.
func (a *Agent) handleExecInspect(ctx context.Context, c *call) error {
	e, err := a.execFor(c)
	if err != nil {
		return err
	}
	exited, code, err := e.st.Exited(ctx)
	if err != nil {
		return fmt.Errorf("exec in %s: %w", e.app, err)
	}
	return c.reply(&proto.ExecExited{Running: !exited, Code: code})
}

// handleExecResize sizes an exec's terminal.
func (a *Agent) handleExecResize(ctx context.Context, c *call) error {
	var rs proto.Resize
	if err := c.decode(&rs); err != nil {
		return err
	}
	e, err := a.execFor(c)
	if err != nil {
		return err
	}
	if err := e.st.Resize(ctx, rs.Rows, rs.Cols); err != nil {
		return fmt.Errorf("resizing exec in %s: %w", e.app, err)
	}
	return c.reply(struct{}{})
}

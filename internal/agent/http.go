package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/proto"
)

const (
	// requestTimeout bounds the wait for a request's header; after that,
	// requests take as long as they take.
	requestTimeout = 30 * time.Second
	// idleTimeout closes a client's idle connection (with dial-stdio, an
	// idle connection is a process on the host).
	idleTimeout = 5 * time.Minute
	// maxRequestBody bounds a JSON request (an image's config and manifest
	// are the largest).
	maxRequestBody = 4 << 20
)

// Serve serves the HTTP API (internal/proto) on l until ctx ends. It
// returns after every request has finished: requests are served with ctx,
// not their connection's context, so a client going away does not cut a
// deploy short (logs and exec, which only serve their client, end with it).
func (a *Agent) Serve(ctx context.Context, l net.Listener) error {
	a.sweepSessions()
	// What imports cut off by this agent's death left in the store.
	if found, err := a.cfg.Store.RestoreLeftovers(true); err != nil || len(found) > 0 {
		a.log.Info("removed what interrupted imports left", "paths", found, "error", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Interrupted releases are finished before anything else can deploy
	// (each release reconciles its app first, under the app's lock).
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.repairLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.sweepSessions()
			}
		}
	}()
	srv := &http.Server{
		Handler:           a.Handler(ctx),
		ReadHeaderTimeout: requestTimeout,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          a.log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		a.hijacked.Wait()
		return fmt.Errorf("serving the API: %w", err)
	case <-ctx.Done():
	}
	// Requests in flight end with ctx; Shutdown waits for them, and the
	// upgraded connections of execs are waited for apart.
	err := srv.Shutdown(context.WithoutCancel(ctx))
	a.hijacked.Wait()
	if err != nil {
		return fmt.Errorf("stopping the API: %w", err)
	}
	return nil
}

// handler serves one route: ctx is the agent's, c the request.
type handler func(ctx context.Context, c *call) error

// Handler is the API's routes (proto/paths.go), served with ctx.
func (a *Agent) Handler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	routes := map[string]handler{
		proto.RouteInfo:         a.handleInfo,
		proto.RouteApps:         a.handleStatus,
		proto.RouteApp:          a.handleStatus,
		proto.RouteQueryMissing: a.handleQueryMissing,
		proto.RouteImport:       a.handleImport,
		proto.RouteRealise:      a.handleRealise,
		proto.RouteDeploy:       a.handleDeploy,
		proto.RouteQueryBlobs:   a.handleQueryBlobs,
		proto.RouteDeployImage:  a.handleDeployImage,
		proto.RoutePrepareImage: a.handlePrepareImage,
		proto.RouteCheck:        a.handleCheck,
		proto.RouteRollback:     a.handleRollback,
		proto.RouteRemove:       a.handleRemove,
		proto.RouteLifecycle:    a.handleLifecycle,
		proto.RouteLogs:         a.handleLogs,
		proto.RouteExec:         a.handleExec,
		proto.RouteExecResize:   a.handleExecResize,
		proto.RouteExecInspect:  a.handleExecInspect,
	}
	for route, h := range routes {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) { a.serveCall(ctx, route, h, w, r) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.serveCall(ctx, "/", func(context.Context, *call) error {
			return codef(proto.CodeUnsupported, "nd-agent %s does not serve %s %s", a.cfg.NDVersion, r.Method, r.URL.Path)
		}, w, r)
	})
	return mux
}

func (a *Agent) serveCall(ctx context.Context, route string, h handler, w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, log: a.log}
	start := time.Now()
	err := h(ctx, c)
	if err != nil {
		code := proto.CodeInternal
		var ce *codeError
		if errors.As(err, &ce) {
			code = ce.code
		}
		a.log.Error("request failed", "route", route, "code", code, "error", err)
		c.fail(code, err.Error())
		return
	}
	a.log.Debug("request done", "route", route, "took", time.Since(start))
}

// call is one request being answered: a plain JSON reply, or once progress
// is reported a JSON-lines body ending in the reply or the error. Its
// methods are safe for concurrent use (progress comes from the runtime's
// goroutines).
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	log hclog.Logger

	mu       sync.Mutex
	lines    bool // the JSON-lines body has begun
	answered bool
	hijacked bool
}

// decode reads the request's JSON body into v.
func (c *call) decode(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxRequestBody))
	if err := dec.Decode(v); err != nil {
		return codef(proto.CodeBadRequest, "decoding the request: %v", err)
	}
	return nil
}

// line writes one line of the JSON-lines body, beginning it if need be.
func (c *call) line(l proto.Line) error {
	if !c.lines {
		c.w.Header().Set("Content-Type", proto.ContentTypeLines)
		c.w.WriteHeader(http.StatusOK)
		c.lines = true
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := c.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return http.NewResponseController(c.w).Flush()
}

// progress reports a long request's step to its client. A client that went
// away does not stop the request: the deploy still finishes or rolls back,
// so the host never stays half-deployed.
func (c *call) progress(stage, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answered {
		return
	}
	if err := c.line(proto.Line{Progress: &proto.Progress{Stage: stage, Message: msg}}); err != nil {
		c.log.Debug("progress not sent", "error", err)
	}
}

// reply answers with v.
func (c *call) reply(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answered = true
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the reply: %w", err)
	}
	if c.lines {
		if err := c.line(proto.Line{Reply: b}); err != nil {
			c.log.Debug("reply not sent", "error", err)
		}
		return nil
	}
	c.w.Header().Set("Content-Type", proto.ContentTypeJSON)
	c.w.WriteHeader(http.StatusOK)
	if _, err := c.w.Write(append(b, '\n')); err != nil {
		c.log.Debug("reply not sent", "error", err)
	}
	return nil
}

// fail answers with an error: its status, or after progress its line.
func (c *call) fail(code, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answered || c.hijacked {
		return
	}
	c.answered = true
	l := proto.Line{Error: &proto.Error{Code: code, Message: msg}}
	if !c.lines {
		b, _ := json.Marshal(l)
		c.w.Header().Set("Content-Type", proto.ContentTypeJSON)
		c.w.WriteHeader(proto.HTTPStatus(code))
		c.w.Write(append(b, '\n'))
		return
	}
	if err := c.line(l); err != nil {
		c.log.Debug("error not sent", "error", err)
	}
}

// upload makes the request's body readable while progress is written
// (HTTP/1 servers otherwise stop reading it once the answer begins).
func (c *call) upload() io.Reader {
	if err := http.NewResponseController(c.w).EnableFullDuplex(); err != nil {
		c.log.Debug("full duplex", "error", err)
	}
	return c.r.Body
}

func (a *Agent) handleInfo(ctx context.Context, c *call) error {
	return c.reply(&proto.Info{
		Protocol: proto.Version, MinProtocol: proto.MinVersion, NDVersion: a.cfg.NDVersion,
		Hostname: a.hostname, Capabilities: a.Capabilities(ctx),
	})
}

// codeError carries the API error code of a failed request.
type codeError struct {
	code string
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code string, err error) error { return &codeError{code: code, err: err} }

func codef(code, format string, a ...any) error { return withCode(code, fmt.Errorf(format, a...)) }

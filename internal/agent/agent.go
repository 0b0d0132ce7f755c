// Package agent is nd-agent, the daemon on each host: it serves the
// internal/proto protocol on a unix socket, imports validated Nix store
// paths, keeps them from garbage collection, records numbered generations
// per app and hands deploys to a container Runtime (internal/dockerrt,
// plugged in by cmd/nd-agent). Only cmd/nd-agent and tests import it; it must
// not import internal/cli or internal/sshconn.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// Defaults of Config.
const (
	DefaultSocket          = "/run/nd-agent/agent.sock"
	DefaultStateDir        = "/var/lib/nd-agent"
	DefaultGCRoots         = "/nix/var/nix/gcroots/nd-agent"
	DefaultKeepGenerations = 3
	// SessionTTL is how long temporary GC roots of a push that never
	// deployed survive (a failed import releases its own at once). A push
	// deploys seconds to minutes after its import; an hour is generous and
	// keeps an abandoned push from pinning the store for long.
	SessionTTL = time.Hour
	// sweepInterval is how often idle sessions are looked for.
	sweepInterval = 5 * time.Minute
	// requestTimeout bounds the wait for a stream's hello and request.
	requestTimeout = 30 * time.Second
)

// Config is what an Agent needs; zero fields get defaults in New.
type Config struct {
	StateDir string          // app state: StateDir/apps/<app>/state.json
	Store    *nixstore.Store // the host's store
	// GCRoots is the agent's directory of GC roots (on disk); default
	// Store.RealPath(DefaultGCRoots). Symlinks in it name logical
	// /nix/store paths.
	GCRoots string
	// Runtime runs containers; nil: deploys fail, the rest works.
	Runtime Runtime
	// Images is the image store and loopback registry image mode sends
	// layers to and dockerd pulls from; nil: no image mode.
	Images          *imagereg.Registry
	KeepGenerations int // superseded generations kept with their roots
	NDVersion       string
	Log             hclog.Logger
	Now             func() time.Time
	// NixStoreProgram is checked on PATH for the Nix capability; default
	// "nix-store" (or Store.NixStore).
	NixStoreProgram string
	// CrashAt is a test-only step at which the agent kills itself (see
	// CrashEnv); "" in production.
	CrashAt string
}

// Agent serves requests. Its methods are safe for concurrent use.
type Agent struct {
	cfg      Config
	log      hclog.Logger
	hostname string

	mu       sync.Mutex
	appLocks map[string]chan struct{}
	sessions map[string]*session
	// repairKick wakes the repair loop (intent.go).
	repairKick chan struct{}
}

// session is what the agent knows about one push: paths it saw valid.
type session struct {
	mu    sync.Mutex
	valid map[string]bool
	seen  time.Time
}

// New makes an Agent, filling defaults.
func New(cfg Config) *Agent {
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.Store == nil {
		cfg.Store = &nixstore.Store{}
	}
	if cfg.GCRoots == "" {
		cfg.GCRoots = cfg.Store.RealPath(DefaultGCRoots)
	}
	if cfg.KeepGenerations <= 0 {
		cfg.KeepGenerations = DefaultKeepGenerations
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NixStoreProgram == "" {
		cfg.NixStoreProgram = cfg.Store.NixStore
		if cfg.NixStoreProgram == "" {
			cfg.NixStoreProgram = "nix-store"
		}
	}
	h, _ := os.Hostname()
	return &Agent{cfg: cfg, log: cfg.Log, hostname: h, appLocks: map[string]chan struct{}{}, sessions: map[string]*session{},
		repairKick: make(chan struct{}, 1)}
}

// Serve accepts streams on l until ctx ends, each in its own goroutine.
// It returns after every stream has finished.
func (a *Agent) Serve(ctx context.Context, l net.Listener) error {
	a.sweepSessions()
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
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting streams: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			a.ServeStream(ctx, c)
		}()
	}
}

// handlers maps request types to their handlers.
func (a *Agent) handlers() map[proto.Type]func(context.Context, *proto.Conn, proto.Envelope) error {
	hs := map[proto.Type]func(context.Context, *proto.Conn, proto.Envelope) error{
		proto.TypePing:         a.handlePing,
		proto.TypeStatus:       a.handleStatus,
		proto.TypeQueryMissing: a.handleQueryMissing,
		proto.TypeImport:       a.handleImport,
		proto.TypeDeploy:       a.handleDeploy,
		proto.TypeQueryBlobs:   a.handleQueryBlobs,
		proto.TypeRealise:      a.handleRealise,
		proto.TypeDeployImage:  a.handleDeployImage,
		proto.TypeCheck:        a.handleCheck,
	}
	for t, h := range a.opHandlers() { // ops.go
		hs[t] = h
	}
	return hs
}

// ServeStream serves one stream: handshake, then one request.
func (a *Agent) ServeStream(ctx context.Context, rw io.ReadWriter) {
	// A stream must say what it wants promptly; after that, requests take
	// as long as they take.
	if dl, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		dl.SetReadDeadline(time.Now().Add(requestTimeout))
		defer dl.SetReadDeadline(time.Time{})
	}
	c := proto.NewConn(rw)
	var hello proto.Hello
	if err := c.Expect(proto.TypeHello, &hello); err != nil {
		a.log.Debug("stream without hello", "error", err)
		return
	}
	hs := a.handlers()
	w := proto.Welcome{
		Protocol: proto.Version, MinProtocol: proto.MinVersion, NDVersion: a.cfg.NDVersion,
		Hostname: a.hostname, Capabilities: a.Capabilities(ctx),
	}
	for t := range hs {
		w.Requests = append(w.Requests, t)
	}
	slices.Sort(w.Requests)
	if err := c.Send(proto.TypeWelcome, &w); err != nil {
		return
	}
	if !proto.Compatible(hello.Protocol, proto.Version, proto.MinVersion) {
		a.log.Warn("client protocol not served", "client", hello.Protocol, "ndVersion", hello.NDVersion)
		c.SendError(proto.CodeVersion, fmt.Sprintf("nd-agent speaks protocol %d..%d, client speaks %d", proto.MinVersion, proto.Version, hello.Protocol))
		return
	}
	env, err := c.Recv()
	if err != nil {
		a.log.Debug("stream without request", "error", err)
		return
	}
	if dl, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		dl.SetReadDeadline(time.Time{})
	}
	h, ok := hs[env.Type]
	if !ok {
		c.SendError(proto.CodeUnsupported, fmt.Sprintf("nd-agent %s does not serve %q requests", a.cfg.NDVersion, env.Type))
		return
	}
	start := time.Now()
	err = h(ctx, c, env)
	if err != nil {
		code := proto.CodeInternal
		var ce *codeError
		if errors.As(err, &ce) {
			code = ce.code
		}
		a.log.Error("request failed", "type", env.Type, "error", err)
		c.SendError(code, err.Error())
		return
	}
	a.log.Debug("request done", "type", env.Type, "took", time.Since(start))
}

// codeError carries the protocol error code of a failed request.
type codeError struct {
	code string
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code string, err error) error { return &codeError{code: code, err: err} }

func codef(code, format string, a ...any) error { return withCode(code, fmt.Errorf(format, a...)) }

func (a *Agent) handlePing(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	return c.Send(proto.TypePong, &proto.Pong{Time: a.cfg.Now().UTC()})
}

// session returns (creating) the session named id; "" gets none.
func (a *Agent) session(id string) *session {
	if id == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[id]
	if s == nil {
		s = &session{valid: map[string]bool{}}
		a.sessions[id] = s
	}
	s.seen = a.cfg.Now()
	return s
}

func (a *Agent) endSession(id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
	if id != "" {
		os.RemoveAll(filepath.Join(a.cfg.GCRoots, manifest.SessionRootsDir, id))
	}
}

// sweepSessions drops sessions (and their temporary roots) idle for SessionTTL.
func (a *Agent) sweepSessions() {
	now := a.cfg.Now()
	a.mu.Lock()
	for id, s := range a.sessions {
		if now.Sub(s.seen) > SessionTTL {
			delete(a.sessions, id)
		}
	}
	for _, d := range []string{manifest.SessionRootsDir, manifest.LegacySessionRootsDir} {
		dir := filepath.Join(a.cfg.GCRoots, d)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			// Sessions are directories; the legacy directory is also where
			// an app named "tmp" has its generation roots (symlinks).
			if !e.IsDir() {
				continue
			}
			if _, live := a.sessions[e.Name()]; live {
				continue
			}
			if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > SessionTTL {
				a.log.Info("removing stale temporary GC roots", "session", e.Name())
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	a.mu.Unlock()
}

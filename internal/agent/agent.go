// Package agent is nd-agent, the daemon on each host: it serves the
// internal/proto HTTP API on a unix socket (http.go), imports validated Nix store
// paths, keeps them from garbage collection, records numbered generations
// per app and hands deploys to a container Runtime (internal/dockerrt,
// plugged in by cmd/nd-agent). Only cmd/nd-agent and tests import it; it must
// not import internal/cli or internal/sshconn.
package agent

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
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
	// Importer fixes how imports go: "nix-store" (pipe into nix-store
	// --import, which holds a whole path in memory) or "restore" (restore
	// and register, bounded memory); "" chooses per import (restoreFor).
	// Set by ImporterEnv, for the benchmarks.
	Importer string
	// CrashAt is a test-only step at which the agent kills itself (see
	// CrashEnv); "" in production.
	CrashAt string
}

// Agent serves requests. Its methods are safe for concurrent use.
type Agent struct {
	cfg      Config
	log      hclog.Logger
	hostname string
	started  time.Time // when New made it

	mu       sync.Mutex
	appLocks map[string]chan struct{}
	sessions map[string]*session
	// repairKick wakes the repair loop (intent.go).
	repairKick chan struct{}
	// dockerOK is when dockerd last answered a ping (UnixNano; caps.go).
	dockerOK atomic.Int64
	// execs are the commands run through exec upgrades (exec.go).
	execs map[string]*execEntry
	// hijacked counts the upgraded connections still served.
	hijacked sync.WaitGroup
	// syncing: a background syncfs runs; syncAgain: run another when it
	// ends; dataRoot: dockerd's, once known, last asked at dataRootAsked
	// (writeback.go).
	syncing, syncAgain bool
	dataRoot           string
	dataRootAsked      time.Time
}

// session is what the agent knows about one push: paths it saw valid, and
// its substitution in the background (substitute.go).
type session struct {
	mu    sync.Mutex
	valid map[string]bool
	seen  time.Time
	subst *substitution
	// prepared are the images it prepared (prepare.go); its end removes
	// those no container runs. preparing counts, per app, the prepares
	// under way.
	prepared  []preparedImage
	preparing map[string]int
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
	return &Agent{cfg: cfg, log: cfg.Log, hostname: h, started: cfg.Now(), appLocks: map[string]chan struct{}{}, sessions: map[string]*session{},
		execs: map[string]*execEntry{}, repairKick: make(chan struct{}, 1)}
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
		s = &session{valid: map[string]bool{}, preparing: map[string]int{}}
		a.sessions[id] = s
	}
	s.seen = a.cfg.Now()
	return s
}

// sessionHas reports whether session id (if live) saw p valid: p is then
// rooted for it until it ends.
func (a *Agent) sessionHas(id, p string) bool {
	a.mu.Lock()
	s := a.sessions[id]
	a.mu.Unlock()
	if id == "" || s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid[p]
}

func (a *Agent) endSession(id string) {
	a.mu.Lock()
	s := a.sessions[id]
	delete(a.sessions, id)
	a.mu.Unlock()
	if s != nil {
		a.dropPrepared(s.takePrepared(""))
	}
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
			a.dropPrepared(s.takePrepared(""))
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

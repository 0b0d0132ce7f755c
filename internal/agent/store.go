package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// Request bounds.
const (
	maxQueryPaths  = 100000
	maxImportPaths = 100000
	// maxWindow bounds a stream's zstd window, so each import holds at
	// most this much decoder memory.
	maxWindow = 64 << 20
	// maxReadAhead is how much compressed data one import buffers ahead
	// of the store (see readAhead). Restoring writes as it reads, so a
	// few hundred milliseconds of the link are enough; its chunks are
	// allocated whole, so this is also the memory it may hold, which a
	// small droplet's agent cannot spare 64 MiB of.
	maxReadAhead = 8 << 20
)

var sessionRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkSession(id string) error {
	if id != "" && !sessionRE.MatchString(id) {
		return codef(proto.CodeBadRequest, "bad session id %q", id)
	}
	return nil
}

func (a *Agent) handleQueryMissing(ctx context.Context, c *call) error {
	var q proto.QueryMissing
	if err := c.decode(&q); err != nil {
		return err
	}
	if err := checkSession(q.Session); err != nil {
		return err
	}
	if len(q.Paths) > maxQueryPaths {
		return codef(proto.CodeBadRequest, "%d paths in one query, at most %d", len(q.Paths), maxQueryPaths)
	}
	for _, p := range q.Paths {
		if err := nixstore.ValidStorePath(p); err != nil {
			return withCode(proto.CodeBadRequest, err)
		}
	}
	if err := a.requireNix(); err != nil {
		return err
	}
	s := a.session(q.Session)
	// A substitution of this session still running in the background
	// (Overlap) decides what is missing: wait for it.
	if err := s.awaitSubstitution(ctx); err != nil {
		return err
	}
	valid, err := a.cfg.Store.QueryValid(ctx, q.Paths)
	if err != nil {
		return err
	}
	substituted, fetching := a.substitute(ctx, q, valid, s)
	missing, substituting := []string{}, []string(nil)
	for _, p := range q.Paths {
		if fetching[p] {
			substituting = append(substituting, p)
			continue
		}
		if !valid[p] {
			missing = append(missing, p)
			continue
		}
		if s != nil {
			// Keep what the client will not send until the deploy roots it.
			if err := addRoot(a.sessionRoot(q.Session, p), p); err != nil {
				return err
			}
			s.mu.Lock()
			s.valid[p] = true
			s.mu.Unlock()
		}
	}
	a.log.Debug("query missing", "paths", len(q.Paths), "missing", len(missing), "substituted", len(substituted),
		"substituting", len(substituting), "session", q.Session)
	return c.reply(&proto.Missing{Missing: missing, Substituted: substituted, Substituting: substituting})
}

// referenceValid answers nixstore.ExportOptions.ReferenceValid from what the
// session already saw, else by asking the store.
func (a *Agent) referenceValid(ctx context.Context, s *session) func(string) (bool, error) {
	return func(p string) (bool, error) {
		if s != nil {
			s.mu.Lock()
			ok := s.valid[p]
			s.mu.Unlock()
			if ok {
				return true, nil
			}
		}
		v, err := a.cfg.Store.QueryValid(ctx, []string{p})
		if err != nil {
			return false, err
		}
		if !v[p] && s.substitution() != nil {
			// It may be (or have been) on its way from the host's
			// substituters (QueryMissing with Overlap): registering
			// waits for that.
			if err := s.awaitSubstitution(ctx); err != nil {
				return false, err
			}
			if v, err = a.cfg.Store.QueryValid(ctx, []string{p}); err != nil {
				return false, err
			}
		}
		if v[p] && s != nil {
			s.mu.Lock()
			s.valid[p] = true
			s.mu.Unlock()
		}
		return v[p], nil
	}
}

// handleImport decompresses the request's body, validates it entry by
// entry and pipes it into nix-store --import. A stream that ends early or
// turns out malformed stops before nix-store can register its entry:
// complete earlier entries stay imported (and rooted), the current one is
// not imported at all.
func (a *Agent) handleImport(ctx context.Context, c *call) error {
	req, err := importRequest(c.r)
	if err != nil {
		return err
	}
	if err := checkSession(req.Session); err != nil {
		return err
	}
	if req.Paths < 0 || req.Paths > maxImportPaths {
		return codef(proto.CodeBadRequest, "import of %d paths", req.Paths)
	}
	if err := a.requireNix(); err != nil {
		return err
	}
	session := req.Session
	if session == "" {
		session = "import-" + randomID()
	}
	s := a.session(session)
	if err := a.checkRoom(req.NarBytes); err != nil {
		// The push fails: what it pinned so far must not stay pinned.
		a.endSession(session)
		return err
	}
	ahead := newReadAhead(c.upload(), maxReadAhead)
	defer ahead.Close()
	var tm importTimes
	tm.start()
	wire := &timedReader{r: ahead, d: &tm.wire}
	data := &errReader{r: wire}
	zr, err := zstd.NewReader(data, zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("starting decompression: %w", err)
	}
	defer zr.Close()
	counter := &countingReader{r: &timedReader{r: zr, d: &tm.unzip}}
	stopWriteback := a.writebackWhile()
	entries, stderr, err := a.importExport(ctx, counter, &tm, req.NarBytes, nixstore.ExportOptions{
		ReferenceValid: a.referenceValid(ctx, s),
		BeforeCommit: func(e nixstore.Entry) error {
			t := time.Now()
			defer func() { tm.roots += time.Since(t) }()
			return addRoot(a.sessionRoot(session, e.Path), e.Path)
		},
		MaxPaths: req.Paths,
	})
	tm.stop()
	stopWriteback()
	if err != nil {
		a.log.Warn("import refused", "session", session, "imported", len(entries), "error", err)
		// A cut stream keeps its pins (for SessionTTL) so that the push,
		// tried again, sends only what is missing; a full disk releases
		// them now, since they are what fills it.
		if a.diskFull(stderr, err) {
			a.endSession(session)
			free, _ := a.storeFree()
			return noSpace(importNeedIfKnown(req.NarBytes), free)
		}
		var fe *nixstore.FormatError
		var se *nixstore.StoreError // the host failed to store what arrived
		if errors.As(err, &fe) || (data.err == nil && ctx.Err() == nil && !errors.Is(err, io.ErrUnexpectedEOF) && !isWriteErr(err) && !errors.As(err, &se)) {
			return withCode(proto.CodeBadStream, fmt.Errorf("import refused after %d complete paths: %w", len(entries), err))
		}
		return fmt.Errorf("import stopped after %d complete paths: %w", len(entries), err)
	}
	res := proto.Imported{Paths: []string{}, Bytes: counter.n}
	s.mu.Lock()
	for _, e := range entries {
		res.Paths = append(res.Paths, e.Path)
		s.valid[e.Path] = true
	}
	s.mu.Unlock()
	a.log.Info("imported", append([]any{"paths", len(entries), "bytes", counter.n, "session", session}, tm.fields()...)...)
	return c.reply(&res)
}

// ImporterEnv=nix-store or =restore makes the agent import always that way
// (Config.Importer), for the benchmarks' comparisons.
const ImporterEnv = "ND_AGENT_IMPORTER"

// restoreFor decides how an import of narBytes (0: unknown) goes. Restoring
// holds no path in memory, but measured end to end on the benchmarks'
// droplets it took 1.2-1.4x the time and more CPU than nix-store --import
// (docs/BENCHMARKS.md); so nix-store --import is kept where memory is
// plenty: where the whole import would fit four times in what is
// available (MemAvailable, or what the agent's memory cgroup leaves).
func (a *Agent) restoreFor(narBytes int64) bool {
	switch a.cfg.Importer {
	case "nix-store":
		return false
	case "restore":
		return a.cfg.Store.CanRestore()
	}
	if !a.cfg.Store.CanRestore() {
		return false
	}
	avail := memoryAvailable()
	return narBytes <= 0 || avail <= 0 || narBytes > avail/4
}

// importExport imports a decompressed export stream into the host's store,
// validated entry by entry (opts). Where it can write the store directory
// it restores each path as it arrives and registers it (in bounded memory,
// see nixstore.RestoreImport); elsewhere it pipes the stream into
// nix-store --import, which holds a whole path in memory. It returns the
// entries imported and, for telling a full disk, what Nix said.
func (a *Agent) importExport(ctx context.Context, r io.Reader, tm *importTimes, narBytes int64, opts nixstore.ExportOptions) ([]nixstore.Entry, string, error) {
	if a.restoreFor(narBytes) {
		entries, st, err := a.cfg.Store.RestoreImport(ctx, r, opts)
		tm.restore = st
		return entries, "", err
	}
	im, err := a.cfg.Store.StartImport(ctx)
	if err != nil {
		return nil, "", err
	}
	entries, err := nixstore.CopyExport(r, im.Stdin, opts)
	if err != nil {
		im.Abort()
		return entries, im.Stderr(), err
	}
	if _, err := im.Close(); err != nil {
		return nil, im.Stderr(), err
	}
	return entries, "", nil
}

// errReader remembers its reader's error, to tell a cut stream from a
// stream that does not decompress.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func isWriteErr(err error) bool { return strings.Contains(err.Error(), "writing export stream") }

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

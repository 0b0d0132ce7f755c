package agent

import (
	"context"
	"time"

	"github.com/nd-project/nd/internal/proto"
)

// substitution is a session's substitution running in the background
// (QueryMissing with Overlap): its paths arrive while the client sends
// the rest.
type substitution struct {
	done chan struct{} // closed when Nix is done and what came is rooted
	got  []string      // the paths that came, set before done closes
}

// substitute lets the host's Nix fetch the paths of q that valid lacks from
// its substituters, when q asks for it, and returns what arrived (marked
// valid, in request order). With q.Overlap it returns as soon as Nix has
// said what it will fetch: those paths are fetching, and s.subst waits for
// them. A failure only means the client sends more: it is logged, not
// returned.
func (a *Agent) substitute(ctx context.Context, q proto.QueryMissing, valid map[string]bool, s *session) (done []string, fetching map[string]bool) {
	if !q.Substitute {
		return nil, nil
	}
	var want []string
	for _, p := range q.Paths {
		if !valid[p] {
			want = append(want, p)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	if !q.Overlap || s == nil {
		got, _ := a.runSubstitution(ctx, want, nil)
		for _, p := range got {
			valid[p] = true
		}
		return got, nil
	}
	sub := &substitution{done: make(chan struct{})}
	planned := make(chan []string, 1)
	s.mu.Lock()
	s.subst = sub
	s.mu.Unlock()
	go func() {
		defer close(sub.done)
		// The client may hang up: what is on its way still comes, and is
		// rooted for the session like the rest of the push.
		got, _ := a.runSubstitution(context.WithoutCancel(ctx), want, func(f []string) { planned <- f })
		for _, p := range got {
			if err := addRoot(a.sessionRoot(q.Session, p), p); err != nil {
				a.log.Warn("rooting a substituted path", "path", p, "error", err)
				continue
			}
			s.mu.Lock()
			s.valid[p] = true
			s.mu.Unlock()
			sub.got = append(sub.got, p)
		}
	}()
	select {
	case f := <-planned:
		wanted := make(map[string]bool, len(want))
		for _, p := range want {
			wanted[p] = true
		}
		fetching = map[string]bool{}
		for _, p := range f {
			if wanted[p] {
				fetching[p] = true
			}
		}
		a.log.Info("substituting in the background", "asked", len(want), "fetching", len(fetching), "session", q.Session)
		return nil, fetching
	case <-sub.done:
		// Over before Nix announced anything: nothing to fetch, or an
		// announcement this agent does not read.
		for _, p := range sub.got {
			valid[p] = true
		}
		return sub.got, nil
	case <-ctx.Done():
		return nil, nil
	}
}

// runSubstitution runs the host's Nix on want and returns the paths that
// are valid afterwards, in want's order.
func (a *Agent) runSubstitution(ctx context.Context, want []string, plan func([]string)) ([]string, error) {
	start := a.cfg.Now()
	stopWriteback := a.writebackWhile()
	got, out, err := a.cfg.Store.Substitute(ctx, want, plan)
	stopWriteback()
	took := a.cfg.Now().Sub(start).Round(time.Millisecond)
	if err != nil {
		a.log.Warn("substituting missing paths", "paths", len(want), "took", took, "err", err, "nix", out)
		return nil, err
	}
	var done []string
	for _, p := range want {
		if got[p] {
			done = append(done, p)
		}
	}
	// Info: how long the host's caches took is what tells a user whether
	// substituting pays (and the benchmark reads it).
	a.log.Info("substituted", "asked", len(want), "got", len(done), "took", took)
	a.log.Debug("substitution output", "nix", out)
	return done, nil
}

// substitution is s's background substitution, running or over; nil if
// it has none (or s is nil).
func (s *session) substitution() *substitution {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subst
}

// awaitSubstitution waits until s's substitution, if any, is over.
func (s *session) awaitSubstitution(ctx context.Context) error {
	sub := s.substitution()
	if sub == nil {
		return nil
	}
	select {
	case <-sub.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package agent

import (
	"context"
	"errors"

	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// handleRealise builds a derivation nd-push sent (--build-on-target) and
// roots its outputs for the session, so the deploy that follows finds them.
func (a *Agent) handleRealise(ctx context.Context, c *call) error {
	var r proto.Realise
	if err := c.decode(&r); err != nil {
		return err
	}
	if err := checkSession(r.Session); err != nil {
		return err
	}
	if err := nixstore.ValidStorePath(r.Drv); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := a.requireNix(); err != nil {
		return err
	}
	c.progress("build", "building "+r.Drv)
	outs, err := a.cfg.Store.Realise(ctx, r.Drv, r.NoSubstitute)
	var re *nixstore.RealiseError
	if errors.As(err, &re) {
		return withCode(proto.CodeBuild, err)
	}
	if err != nil {
		return err
	}
	if s := a.session(r.Session); s != nil {
		for _, p := range outs {
			if err := addRoot(a.sessionRoot(r.Session, p), p); err != nil {
				return err
			}
			s.mu.Lock()
			s.valid[p] = true
			s.mu.Unlock()
		}
	}
	a.log.Info("realised", "drv", r.Drv, "outputs", outs, "session", r.Session)
	return c.reply(&proto.Realised{Outputs: outs})
}

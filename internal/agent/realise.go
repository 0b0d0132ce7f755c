package agent

import (
	"context"
	"errors"

	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// handleRealise builds a derivation nd-push sent (--build-on-target) and
// roots its outputs for the session, so the deploy that follows finds them.
func (a *Agent) handleRealise(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var r proto.Realise
	if err := proto.Decode(env, proto.TypeRealise, &r); err != nil {
		return withCode(proto.CodeBadRequest, err)
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
	if err := c.Send(proto.TypeProgress, &proto.Progress{Stage: "build", Message: "building " + r.Drv}); err != nil {
		return err
	}
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
	return c.Send(proto.TypeRealised, &proto.Realised{Outputs: outs})
}

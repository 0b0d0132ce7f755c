package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/proto"
)

// instantiate evaluates the config on the laptop without building
// it (--build-on-target): the package's derivation goes to each host, and
// its manifest, evaluated here, gives the app's name and secrets before
// any host is contacted, as a local build would.
func (r *pushRun) instantiate(ctx context.Context) error {
	o, env := r.o, r.env
	fmt.Fprintf(env.Stderr, "evaluating %s (it is built on the hosts)\n", o.build.Config)
	in, err := nixbuild.Instantiate(ctx, o.build.nixbuild(env))
	if err != nil {
		return err
	}
	r.pkg, r.drv = in.Package, in.Drv
	return nil
}

// buildOnHost has the host build the package whose derivation closure it
// just received, and checks it built the path the laptop evaluated.
func (r *pushRun) buildOnHost(ctx context.Context, h *host, session string, single bool) error {
	if single {
		fmt.Fprintf(r.env.Stderr, "%s: building %s\n", h.name, r.drv)
	}
	built, err := h.agent.Realise(ctx, proto.Realise{Drv: r.drv, Session: session, NoSubstitute: r.o.NoSubstitute}, nil)
	if err != nil {
		return fmt.Errorf("building on %s: %w", h.name, err)
	}
	if !slices.Contains(built.Outputs, r.pkg.Path) {
		return fmt.Errorf("building on %s: it built %v, not %s", h.name, built.Outputs, r.pkg.Path)
	}
	return nil
}

package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/proto"
)

// instantiateForTarget evaluates the config on the laptop without building
// it (--build-on-target): the package's derivation goes to each host, and
// its manifest, evaluated here, gives the app's name and secrets before
// any host is contacted, as a local build would.
func instantiateForTarget(ctx context.Context, env *Env, o *pushOptions) (string, *manifest.Manifest, error) {
	fmt.Fprintf(env.Stderr, "evaluating %s (it is built on the hosts)\n", o.build.Config)
	in, err := nixbuild.Instantiate(ctx, nixbuild.Options{
		Config:      o.build.Config,
		NixpkgsPath: o.build.Nixpkgs,
		Offline:     o.build.Offline,
		Name:        o.build.Name,
		ExtraPkgs:   o.build.Extra,
		Log:         env.Log.Named("nixbuild"),
	})
	if err != nil {
		return "", nil, err
	}
	m, err := manifest.Parse(in.Manifest)
	if err != nil {
		return "", nil, fmt.Errorf("reading the evaluated manifest: %w", err)
	}
	o.drv = in.Drv
	return in.Package, m, nil
}

// buildOnHost has the host build the package whose derivation closure it
// just received, and checks it built the path the laptop evaluated.
func buildOnHost(ctx context.Context, env *Env, h *host, o *pushOptions, pkg, session string, single bool) error {
	if single {
		fmt.Fprintf(env.Stderr, "%s: building %s\n", h.name, o.drv)
	}
	r, err := h.agent.Realise(ctx, proto.Realise{Drv: o.drv, Session: session, NoSubstitute: o.NoSubstitute}, nil)
	if err != nil {
		return fmt.Errorf("building on %s: %w", h.name, err)
	}
	if !slices.Contains(r.Outputs, pkg) {
		return fmt.Errorf("building on %s: it built %v, not %s", h.name, r.Outputs, pkg)
	}
	return nil
}

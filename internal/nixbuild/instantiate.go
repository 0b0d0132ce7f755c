package nixbuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixcmd"
)

// Instantiated is a config evaluated on the laptop but not built: what
// nd-push --build-on-target sends to the host to build there.
type Instantiated struct {
	// Drv is the deploy package's derivation (its closure holds every
	// derivation and source the build needs).
	Drv string
	// Package is what building Drv gives: its store path (not valid yet)
	// and its manifest, evaluated as the build will write it.
	Package *manifest.Package
}

// Instantiate evaluates opts.Config (a config.nix or FLAKE#NAME) into the
// deploy package's derivation without building anything: nix-instantiate
// for the derivation, and an evaluation of the manifest, which nd-push
// needs (name, secrets) before any host is contacted.
func Instantiate(ctx context.Context, opts Options) (Instantiated, error) {
	inv, err := plan(ctx, opts)
	if err != nil {
		return Instantiated{}, err
	}
	var in Instantiated
	out, err := runNix(ctx, opts, inv, "nix-instantiate", inv.args)
	if err != nil {
		return in, err
	}
	if f := strings.Fields(out); len(f) > 0 {
		in.Drv = f[len(f)-1]
	}
	if !strings.HasSuffix(in.Drv, ".drv") {
		return in, fmt.Errorf("instantiating %s: nix-instantiate printed %q, not a derivation", inv.what, out)
	}
	// The manifest as nix-build would write it: build.nix and
	// flake-build.nix put it in the package with builtins.toJSON.
	expr := append(append([]string{}, inv.args...), "--eval", "--strict", "--json", "-A", "manifest")
	out, err = runNix(ctx, opts, inv, "nix-instantiate", expr)
	if err != nil {
		return in, err
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return in, fmt.Errorf("evaluating the manifest of %s: %w", inv.what, err)
	}
	data, err := json.Marshal(v) // sorted keys, as toJSON
	if err != nil {
		return in, fmt.Errorf("evaluating the manifest of %s: %w", inv.what, err)
	}
	out, err = runNix(ctx, opts, inv, "nix-store", []string{"--query", "--outputs", in.Drv})
	if err != nil {
		return in, err
	}
	if in.Package, err = manifest.ParsePackage(strings.TrimSpace(out), data); err != nil {
		return in, fmt.Errorf("evaluating the manifest of %s: %w", inv.what, err)
	}
	return in, nil
}

// runNix runs a Nix command of an invocation and returns its stdout.
func runNix(ctx context.Context, opts Options, inv invocation, name string, args []string) (string, error) {
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log.Debug("running "+name, "args", args)
	out, err := opts.Runner.Output(ctx, nil, name, args...)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("evaluating %s: %w", inv.what, ctx.Err())
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return "", fmt.Errorf("running %s (is Nix installed?): %w", name, err)
		}
		return "", &Error{Config: inv.what, Message: NixMessage(nixcmd.Stderr(err)), Err: err}
	}
	return string(out), nil
}

package nixbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nd-project/nd/internal/nixcmd"
	"github.com/nd-project/nd/modules"
)

// flakeFeatures are the experimental features flakes need on every Nix nd
// supports (2.8 has them off by default). extra- adds them to what the
// user's nix.conf enables instead of replacing it.
var flakeFeatures = []string{"--option", "extra-experimental-features", "nix-command flakes"}

// planFlake plans building FLAKE#NAME: ndConfigurations.NAME of the flake,
// made by nd's lib.ndConfiguration, with nd-init (and busybox for nd's
// offline pkgs) supplied as for a config.nix. It locks the flake first.
func planFlake(ctx context.Context, opts Options) (invocation, error) {
	flake, name, err := SplitFlakeRef(opts.Config)
	if err != nil {
		return invocation{}, err
	}
	if strings.HasPrefix(flake, "/") { // a local path, made absolute by SplitFlakeRef
		if _, err := os.Stat(filepath.Join(flake, "flake.nix")); err != nil {
			return invocation{}, fmt.Errorf("reading flake %s: %w", opts.Config, err)
		}
	}
	p, err := prepare(opts)
	if err != nil {
		return invocation{}, err
	}
	if err := lockFlake(ctx, opts, flake); err != nil {
		return invocation{}, err
	}
	args := append([]string{filepath.Join(p.modDir, modules.FlakeEntryPoint),
		"--argstr", "flake", flake,
		"--argstr", "attr", name,
		"--arg", "ndInit", p.initDir,
		"--arg", "busybox", p.bbDir,
	}, flakeFeatures...)
	if opts.Name != "" {
		args = append(args, "--argstr", "name", opts.Name)
	}
	return invocation{args: args, what: opts.Config}, nil
}

// lockFlake makes sure the flake has a complete lock, as `nix build` would
// (writing flake.lock for a local flake): builtins.getFlake, which
// flake-build.nix uses, refuses to change a lock itself.
func lockFlake(ctx context.Context, opts Options, flake string) error {
	args := append(append([]string{}, flakeFeatures...), "flake", "metadata", "--json", flake)
	if err := opts.Runner.Run(ctx, nil, nil, "nix", args...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("locking flake %s: %w", flake, ctx.Err())
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return fmt.Errorf("locking flake %s: running nix (is Nix >= 2.4 installed?): %w", flake, err)
		}
		return &Error{Config: opts.Config, Message: "locking the flake: " + NixMessage(nixcmd.Stderr(err)), Err: err}
	}
	return nil
}

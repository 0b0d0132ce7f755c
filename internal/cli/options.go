package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/optdoc"
)

// optionsOptions are nd-push options' flags and argument.
type optionsOptions struct {
	JSON    bool
	Nixpkgs string // --nixpkgs / -I nixpkgs=: where nixpkgs' lib is
	Prefix  string
}

func newOptionsCmd(env *Env) *cobra.Command {
	o := &optionsOptions{}
	c := &cobra.Command{
		Use:   "options [flags] [PREFIX]",
		Short: "list config.nix options: type, default, example, description (docs/options.md)",
		Long: `options lists every option of nd's modules that config.nix can set, read from
the modules' own declarations; PREFIX (docker, services.redis, ...) keeps those
under it.`,
		Example: `  nd-push options docker.ports
  nd-push options supervisord.services`,
		Args:              hostArgs(0, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Prefix = args[0]
			}
			return runOptions(cmd.Context(), env, o)
		},
	}
	c.Flags().BoolVar(&o.JSON, "json", false, "print a JSON list of {name, type, description, default, example, declaredIn}")
	c.Flags().StringVar(&o.Nixpkgs, "nixpkgs", "", "evaluate with the nixpkgs (or nixpkgs.lib) at `PATH` (default: <nixpkgs> from NIX_PATH)")
	c.Flags().VarP(includeFlag{&o.Nixpkgs}, "include", "I", "`nixpkgs=PATH`, like nix-build's -I")
	return c
}

func runOptions(ctx context.Context, env *Env, o *optionsOptions) error {
	np, err := nixbuild.ResolveNixpkgs(o.Nixpkgs, os.Getenv("NIX_PATH"), true)
	if err != nil {
		return err
	}
	all, err := optdoc.Load(ctx, "", np.Lib)
	if err != nil {
		return err
	}
	opts := optdoc.Filter(all, o.Prefix)
	if len(opts) == 0 {
		return fmt.Errorf("no option is named %s or starts with %s. (try nd-push options, without a prefix)", o.Prefix, o.Prefix)
	}
	if o.JSON {
		return printJSON(env.Stdout, opts)
	}
	optdoc.WriteText(env.Stdout, opts)
	return nil
}

package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/nixbuild"
)

// buildOptions are nd-push build's flags.
type buildOptions struct {
	OutLink string
	Nixpkgs string
	Offline bool
	Name    string
	Extra   string
	Verbose bool
	Config  string
	Image   imageFileOptions // -b: write the layered image (build_image.go)
}

func newBuildCmd(env *Env) *cobra.Command {
	o := &buildOptions{}
	c := &cobra.Command{
		Use:   "build [flags] CONFIG|FLAKE#NAME",
		Short: "build CONFIG into a deploy package and print its store path",
		Long: `build evaluates and builds CONFIG (a config.nix or a directory holding one, or a
flake's FLAKE#NAME) into
a deploy package and prints its store path; with -b it writes the app's full
layered image to the file given with -o instead.`,
		Example: `  nd-push build -o result examples/hello
  nd-push build -b -o hello.tar examples/hello`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("build: want exactly one CONFIG or FLAKE#NAME, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Config = args[0]
			if err := o.Image.check(o.OutLink); err != nil {
				return err
			}
			return runBuild(cmd.Context(), env, o)
		},
	}
	o.register(c.Flags())
	return c
}

func (o *buildOptions) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.OutLink, "out-link", "o", "", "create `LINK`, a symlink to the package (and a GC root); with -b the image `FILE`")
	fs.StringVar(&o.Nixpkgs, "nixpkgs", "", "build with the nixpkgs (or nixpkgs.lib: lib only) at `PATH` (default: <nixpkgs> from NIX_PATH)")
	fs.VarP(includeFlag{&o.Nixpkgs}, "include", "I", "`nixpkgs=PATH`, like nix-build's -I")
	fs.BoolVar(&o.Offline, "offline", false, "use nd's offline pkgs (with nixpkgs' lib) even with a full nixpkgs")
	fs.StringVar(&o.Extra, "extra-pkgs", "", "Nix `FILE` holding pkgs: { name = drv; } to add to pkgs (e.g. host programs for offline builds)")
	fs.BoolVarP(&o.Verbose, "verbose", "v", false, "show nix-build's output while it runs")
	fs.StringVar(&o.Name, "name", "", "default app `NAME` (docker.name) when the config sets none (default: the config's directory name)")
	o.Image.register(fs)
}

// nixbuild are the options of a build of o.Config (deploy's too).
func (o *buildOptions) nixbuild(env *Env) nixbuild.Options {
	return nixbuild.Options{
		Config:      o.Config,
		NixpkgsPath: o.Nixpkgs,
		Offline:     o.Offline,
		Name:        o.Name,
		ExtraPkgs:   o.Extra,
		Log:         env.Log.Named("nixbuild"),
	}
}

// runBuild builds the config and prints the deploy package's store path.
func runBuild(ctx context.Context, env *Env, o *buildOptions) error {
	var progress io.Writer
	if o.Verbose {
		progress = env.Stderr
	}
	outLink := o.OutLink
	if o.Image.On {
		outLink = "" // -o names the image file
	}
	bo := o.nixbuild(env)
	bo.Progress, bo.OutLink = progress, outLink
	pkg, err := nixbuild.Build(ctx, bo)
	if err != nil {
		return err
	}
	if o.Image.On {
		return runBuildImage(ctx, env, o, pkg)
	}
	fmt.Fprintln(env.Stdout, pkg.Path)
	return nil
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

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

// includeFlag collects -I entries; only nixpkgs=PATH means anything to nd.
type includeFlag struct{ nixpkgs *string }

func (f includeFlag) String() string { return "" }

func (f includeFlag) Set(v string) error {
	if p, ok := strings.CutPrefix(v, "nixpkgs="); ok && p != "" {
		*f.nixpkgs = p
		return nil
	}
	return fmt.Errorf("want nixpkgs=PATH, got %q", v)
}

func parseBuildFlags(args []string, stderr io.Writer) (*buildOptions, error) {
	o := &buildOptions{}
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.OutLink, "o", "", "create `LINK`, a symlink to the package (and a GC root)")
	fs.StringVar(&o.Nixpkgs, "nixpkgs", "", "build with the nixpkgs (or nixpkgs.lib: lib only) at `PATH` (default: <nixpkgs> from NIX_PATH)")
	fs.Var(includeFlag{&o.Nixpkgs}, "I", "nixpkgs=`PATH`, like nix-build's -I")
	fs.BoolVar(&o.Offline, "offline", false, "use nd's offline pkgs (with nixpkgs' lib) even with a full nixpkgs")
	fs.StringVar(&o.Extra, "extra-pkgs", "", "Nix `FILE` holding pkgs: { name = drv; } to add to pkgs (e.g. host programs for offline builds)")
	fs.BoolVar(&o.Verbose, "v", false, "show nix-build's output while it runs")
	fs.StringVar(&o.Name, "name", "", "default app name (docker.name) when the config sets none (default: the config's directory name)")
	o.Image.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nd-push build [-o LINK | -b [--oci] [--from BASE] -o FILE] [--nixpkgs PATH | -I nixpkgs=PATH] [--offline] [--extra-pkgs FILE] [-v] CONFIG|FLAKE#NAME\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("build: %v", err)
	}
	if fs.NArg() != 1 {
		return nil, usagef("build: want exactly one CONFIG, got %d arguments", fs.NArg())
	}
	o.Config = fs.Arg(0)
	if err := o.Image.check(o.OutLink); err != nil {
		return nil, err
	}
	return o, nil
}

func runBuildCmd(ctx context.Context, env *Env, args []string) error {
	o, err := parseBuildFlags(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: usage printed
	}
	if err != nil {
		return err
	}
	return runBuild(ctx, env, o)
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
	path, err := nixbuild.Build(ctx, nixbuild.Options{
		Progress:    progress,
		Config:      o.Config,
		NixpkgsPath: o.Nixpkgs,
		Offline:     o.Offline,
		OutLink:     outLink,
		Name:        o.Name,
		ExtraPkgs:   o.Extra,
		Log:         env.Log.Named("nixbuild"),
	})
	if err != nil {
		return err
	}
	if o.Image.On {
		return runBuildImage(ctx, env, o, path)
	}
	fmt.Fprintln(env.Stdout, path)
	return nil
}

package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
)

// pushOptions are nd-push's flags for a deploy.
type pushOptions struct {
	ssh       sshFlags
	build     buildOptions
	ImageMode bool // -b: a full layered image even where the host has Nix
	Force     bool
	// NoSubstitute: --no-substitute, the host fetches nothing from its
	// substituters.
	NoSubstitute bool
	// BuildOnTarget: evaluate here, build on each host (buildtarget.go).
	BuildOnTarget bool
	Hosts         []string
	HostsFile     string   // --hosts: more targets, one per line (inventory.go)
	Project       string   // --project: the project file (project.go); "": nd.nix if it is there
	On            []string // --on: which of the project's hosts (@tag, deployment or host)
	Package       string   // a prebuilt deploy package instead of a CONFIG

	progress progressOptions // -q, -v, --json
}

// register adds deploy's flags (those of the root shorthand too).
func (o *pushOptions) register(fs *pflag.FlagSet) {
	o.ssh.register(fs)
	fs.StringVar(&o.build.Nixpkgs, "nixpkgs", "", "build with the nixpkgs (or nixpkgs.lib: lib only) at `PATH` (default: <nixpkgs> from NIX_PATH)")
	fs.VarP(includeFlag{&o.build.Nixpkgs}, "include", "I", "`nixpkgs=PATH`, like nix-build's -I")
	fs.BoolVar(&o.build.Offline, "offline", false, "use nd's offline pkgs (with nixpkgs' lib) even with a full nixpkgs")
	fs.StringVar(&o.build.Extra, "extra-pkgs", "", "Nix `FILE` holding pkgs: { name = drv; } added to pkgs")
	fs.StringVar(&o.build.Name, "name", "", "default app `NAME` when the config sets no docker.name")
	fs.BoolVarP(&o.ImageMode, "image", "b", false, "deploy a full layered image even where the host has Nix")
	fs.BoolVar(&o.Force, "force", false, "replace the container even if the host already runs this package")
	fs.BoolVar(&o.BuildOnTarget, "build-on-target", false, "evaluate here, build on each host (which needs Nix): the laptop builds nothing")
	fs.BoolVar(&o.NoSubstitute, "no-substitute", false, "send every missing path; do not let the host fetch them from its substituters first")
	fs.StringVar(&o.HostsFile, "hosts", "", "also deploy to the hosts listed in `FILE` (one per line, # comments)")
	o.progress.register(fs)
	fs.StringVar(&o.Project, "project", "", "deploy, with no hosts and no CONFIG, the deployments of the project `FILE` (default: "+ProjectFile+" here)")
	fs.StringSliceVar(&o.On, "on", nil, "with a project: only the hosts these `SELECTORS` name (@tag, deployment or host; comma-separated)")
}

// setArgs takes the positional arguments: hosts, then what to deploy.
func (o *pushOptions) setArgs(pos []string) error {
	if o.HostsFile != "" {
		hosts, err := readInventory(o.HostsFile)
		if err != nil {
			return err
		}
		if len(pos) < 1 {
			return usagef("want a CONFIG")
		}
		o.Hosts = append(pos[:len(pos)-1:len(pos)-1], hosts...)
	} else if len(pos) < 2 {
		return usagef("want at least one host and a CONFIG (got %d arguments)", len(pos))
	} else {
		o.Hosts = pos[:len(pos)-1]
	}
	last := pos[len(pos)-1]
	if nixbuild.RefKind(last) == nixbuild.RefPackage {
		o.Package = last
	} else {
		o.build.Config = last
	}
	if o.BuildOnTarget && (o.Package != "" || o.ImageMode) {
		return usagef("--build-on-target builds a CONFIG on hosts with Nix: not with a built package or -b")
	}
	return nil
}

// parsePushArgs fills deploy's options from args as the command line does
// (benchmarks call runPush with it).
func parsePushArgs(args []string) (*pushOptions, error) {
	o := &pushOptions{}
	fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, usagef("deploy: %v", err)
	}
	return o, o.setArgs(fs.Args())
}

func newDeployCmd(env *Env) *cobra.Command {
	o := &pushOptions{}
	c := &cobra.Command{
		Use:   "deploy [flags] [user@]host... CONFIG",
		Short: "build CONFIG and deploy it to each host (also: nd-push HOST... CONFIG)",
		Long: `deploy builds CONFIG once (a config.nix, a directory holding one, a flake's
FLAKE#NAME, or a deploy package /nix/store/...-nd-APP built before) and deploys it to every host in
parallel. Nothing on a host changes if the build fails.

With no hosts and no CONFIG it deploys the project file nd.nix (or
--project FILE): each of its deployments, built once, to its hosts, or with
--on only to the hosts of those tags (@web), deployments or host names.`,
		Example: `  nd-push deploy root@droplet examples/hello
  nd-push deploy                 # every deployment of ./nd.nix
  nd-push deploy --on @web       # only those tagged web`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && o.HostsFile == "" {
				return runProject(cmd.Context(), env, o)
			}
			if o.Project != "" || len(o.On) > 0 {
				return usagef("deploy: --project and --on deploy a project file's hosts; give them or HOST... CONFIG, not both")
			}
			if err := o.setArgs(args); err != nil {
				return err
			}
			return runPush(cmd.Context(), env, o)
		},
	}
	o.register(c.Flags())
	return c
}

// pushResult is one host's outcome.
type pushResult struct {
	Host       string
	Mode       string
	Generation int
	Changed    bool
	Sent       int64 // compressed bytes on the wire
	Paths      int   // store paths sent
	// Substituted are the store paths the host took from its substituters.
	Substituted int
	Elapsed     time.Duration // build included
	Build       time.Duration // of which the build
	Err         error
}

// nopFinish keeps a reporter from being finished twice.
type nopFinish struct{ reporter }

func (nopFinish) finish() {}

// runPush builds once (connecting to the hosts meanwhile, but changing
// nothing on them until the build succeeded), then deploys to every host in
// parallel.
func runPush(ctx context.Context, env *Env, o *pushOptions) (err error) {
	start := time.Now()
	rep := o.progress.reporter(env)
	defer func() { rep.finish() }()
	r := &pushRun{o: o, env: env, rep: rep}
	dialCtx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()
	conns := r.dialAhead(dialCtx)
	used := false
	defer func() {
		if !used {
			cancelDial()
			closeDialed(conns)
		}
	}()
	switch {
	case o.BuildOnTarget:
		if err := r.instantiate(ctx); err != nil {
			return err
		}
	case o.Package != "":
		if r.pkg, err = manifest.LoadPackage(o.Package); err != nil {
			return fmt.Errorf("reading the built package: %w", err)
		}
	default:
		rep.buildStart(o.build.Config)
		bo := o.build.nixbuild(env)
		bo.Progress = &lineWriter{f: rep.buildLine}
		r.pkg, err = nixbuild.Build(ctx, bo)
		if err != nil {
			return err
		}
	}
	app := r.pkg.Manifest.Name
	built := time.Since(start)
	rep.buildDone(r.pkg.Path, app, built)
	if r.secrets, err = readSecrets(r.pkg.Manifest); err != nil {
		return err
	}

	results := make([]pushResult, len(o.Hosts))
	var wg sync.WaitGroup
	used = true
	for i, h := range o.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := r.pushOne(dialCtx, h, conns[i])
			// The time printed is the user's wait: the build's included.
			res.Elapsed += built
			res.Build = built
			rep.result(app, res)
			results[i] = res
		}()
	}
	wg.Wait()
	rep.finish()
	rep = nopFinish{rep}

	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	if len(results) == 1 {
		r := results[0]
		if r.Err != nil {
			return fmt.Errorf("deploying to %s: %w", r.Host, r.Err)
		}
		if !o.progress.JSON {
			fmt.Fprintln(env.Stdout, resultLine(app, r))
		}
		return nil
	}
	if o.progress.JSON {
		if failed > 0 {
			return fmt.Errorf("%d of %d hosts failed", failed, len(results))
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tMODE\tRESULT\tGENERATION\tSENT\tTIME")
	for _, r := range results {
		res, gen := "ok", fmt.Sprint(r.Generation)
		if !r.Changed {
			res = "unchanged"
		}
		if r.Err != nil {
			res, gen = "FAILED: "+r.Err.Error(), "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\n", r.Host, r.Mode, res, gen, humanBytes(r.Sent), r.Elapsed.Seconds())
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d hosts failed", failed, len(results))
	}
	return nil
}

func resultLine(app string, r pushResult) string {
	what := "deployed"
	if !r.Changed {
		what = "already running"
	}
	subst := ""
	if r.Substituted > 0 {
		subst = fmt.Sprintf(", %d paths from the host's substituters", r.Substituted)
	}
	return fmt.Sprintf("%s: %s %s generation %d (%s mode, %d paths / %s sent%s, %.1fs with the build's %.1fs)",
		r.Host, app, what, r.Generation, r.Mode, r.Paths, humanBytes(r.Sent), subst, r.Elapsed.Seconds(), r.Build.Seconds())
}

// pushedBy names who deployed from where, recorded with the generation.
func pushedBy() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	hn, _ := os.Hostname()
	return name + "@" + hn
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

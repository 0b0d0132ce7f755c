package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/proto"
)

// pushOptions are nd-push's flags for a deploy.
type pushOptions struct {
	ssh          sshFlags
	build        buildOptions
	ImageMode    bool // -b: a full layered image even where the host has Nix
	Force        bool
	NoSubstitute bool // --no-substitute: the host fetches nothing from its substituters
	// BuildOnTarget: evaluate here, build on each host (buildtarget.go);
	// drv is the package's derivation then.
	BuildOnTarget bool
	drv           string
	Hosts         []string
	HostsFile     string     // --hosts: more targets, one per line (inventory.go)
	Package       string     // a prebuilt deploy package instead of a CONFIG
	secrets       *secretSet // docker.environmentFiles, read once (secrets.go)

	image imageBuild // the layered image, built once for all image-mode hosts
}

func parsePushFlags(args []string, stderr io.Writer) (*pushOptions, error) {
	o := &pushOptions{}
	fs := flag.NewFlagSet("nd-push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.ssh.register(fs)
	fs.StringVar(&o.build.Nixpkgs, "nixpkgs", "", "build with the nixpkgs (or nixpkgs.lib: lib only) at `PATH` (default: <nixpkgs> from NIX_PATH)")
	fs.Var(includeFlag{&o.build.Nixpkgs}, "I", "nixpkgs=`PATH`, like nix-build's -I")
	fs.BoolVar(&o.build.Offline, "offline", false, "use nd's offline pkgs (with nixpkgs' lib) even with a full nixpkgs")
	fs.StringVar(&o.build.Extra, "extra-pkgs", "", "Nix `FILE` holding pkgs: { name = drv; } added to pkgs")
	fs.StringVar(&o.build.Name, "name", "", "default app name when the config sets no docker.name")
	fs.BoolVar(&o.ImageMode, "b", false, "deploy a full layered image even where the host has Nix")
	fs.BoolVar(&o.Force, "force", false, "replace the container even if the host already runs this package")
	fs.BoolVar(&o.BuildOnTarget, "build-on-target", false, "evaluate here, build on each host (which needs Nix): the laptop builds nothing")
	fs.BoolVar(&o.NoSubstitute, "no-substitute", false, "send every missing path; do not let the host fetch them from its substituters first")
	fs.StringVar(&o.HostsFile, "hosts", "", "also deploy to the hosts listed in `FILE` (one per line, # comments)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nd-push [flags] [user@]host... CONFIG|FLAKE#NAME|/nix/store/PACKAGE\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if o.HostsFile != "" {
		hosts, err := readInventory(o.HostsFile)
		if err != nil {
			return nil, err
		}
		if len(pos) < 1 {
			return nil, usagef("want a CONFIG")
		}
		o.Hosts = append(pos[:len(pos)-1:len(pos)-1], hosts...)
	} else if len(pos) < 2 {
		return nil, usagef("want at least one host and a CONFIG (got %d arguments)", len(pos))
	} else {
		o.Hosts = pos[:len(pos)-1]
	}
	last := pos[len(pos)-1]
	if strings.HasPrefix(last, "/nix/store/") {
		o.Package = last
	} else {
		o.build.Config = last
	}
	if o.BuildOnTarget && (o.Package != "" || o.ImageMode) {
		return nil, usagef("--build-on-target builds a CONFIG on hosts with Nix: not with a built package or -b")
	}
	return o, nil
}

func runPushCmd(ctx context.Context, env *Env, args []string) error {
	o, err := parsePushFlags(args, env.Stderr)
	if err != nil {
		return err
	}
	return runPush(ctx, env, o)
}

// pushResult is one host's outcome.
type pushResult struct {
	Host        string
	Mode        string
	Generation  int
	Changed     bool
	Sent        int64 // compressed bytes on the wire
	Paths       int   // store paths sent
	Substituted int   // store paths the host took from its substituters
	Elapsed     time.Duration
	Err         error
}

// runPush builds once (before any connection, so a bad config touches no
// host), then deploys to every host in parallel.
func runPush(ctx context.Context, env *Env, o *pushOptions) error {
	pkg := o.Package
	var m *manifest.Manifest
	var err error
	if o.BuildOnTarget {
		if pkg, m, err = instantiateForTarget(ctx, env, o); err != nil {
			return err
		}
	} else if pkg == "" {
		fmt.Fprintf(env.Stderr, "building %s\n", o.build.Config)
		pkg, err = nixbuild.Build(ctx, nixbuild.Options{
			Config:      o.build.Config,
			NixpkgsPath: o.build.Nixpkgs,
			Offline:     o.build.Offline,
			Name:        o.build.Name,
			ExtraPkgs:   o.build.Extra,
			Log:         env.Log.Named("nixbuild"),
		})
		if err != nil {
			return err
		}
	}
	if m == nil {
		if m, err = manifest.Load(pkg); err != nil {
			return fmt.Errorf("reading the built package: %w", err)
		}
	}
	fmt.Fprintf(env.Stderr, "package %s (app %s)\n", pkg, m.Name)
	if o.secrets, err = readSecrets(m); err != nil {
		return err
	}

	results := make([]pushResult, len(o.Hosts))
	var wg sync.WaitGroup
	for i, h := range o.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = pushOne(ctx, env, o, h, pkg, m, len(o.Hosts) == 1)
		}()
	}
	wg.Wait()

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
		fmt.Fprintln(env.Stdout, resultLine(m.Name, r))
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
	return fmt.Sprintf("%s: %s %s generation %d (%s mode, %d paths / %s sent%s, %.1fs)",
		r.Host, app, what, r.Generation, r.Mode, r.Paths, humanBytes(r.Sent), subst, r.Elapsed.Seconds())
}

// pushOne deploys pkg to one host over one SSH connection.
func pushOne(ctx context.Context, env *Env, o *pushOptions, target, pkg string, m *manifest.Manifest, single bool) (res pushResult) {
	start := time.Now()
	res = pushResult{Host: target}
	defer func() { res.Elapsed = time.Since(start) }()

	h, err := connect(ctx, env, &o.ssh, target)
	if err != nil {
		res.Err = err
		return res
	}
	defer h.Close()

	welcome, err := h.agent.Hello(ctx)
	if err != nil {
		res.Err = err
		return res
	}
	caps := welcome.Capabilities
	h.stateDir = caps.StateDir
	if !caps.Docker {
		res.Err = fmt.Errorf("nd-agent on %s cannot reach Docker: %s", target, caps.DockerError)
		return res
	}
	if o.BuildOnTarget && !caps.Nix {
		res.Err = fmt.Errorf("--build-on-target: %s has no usable Nix to build with: %s", target, caps.NixError)
		return res
	}
	if o.ImageMode || !caps.Nix {
		res.Mode = "image"
		why := "-b given"
		if !caps.Nix {
			why = "host has no usable Nix: " + caps.NixError
		}
		if single {
			fmt.Fprintf(env.Stderr, "%s: image mode (%s)\n", target, why)
		}
		err = pushImage(ctx, env, h, pkg, m, o, &res)
		res.Err = err
		return res
	}
	res.Mode = "host-store"
	if single {
		fmt.Fprintf(env.Stderr, "%s: host-store mode (nd-agent %s)\n", target, welcome.NDVersion)
	}
	var printer closure.Printer
	if single {
		printer = closure.NewTerminalPrinter(env.Stderr)
	}
	src := pkg
	if o.BuildOnTarget {
		src = o.drv // the derivations and sources; the host builds the rest
	}
	tr, err := closure.Push(ctx, h.agent, src, closure.Options{Printer: printer, Substitute: !o.NoSubstitute})
	if err != nil {
		res.Err = fmt.Errorf("copying the closure: %w", err)
		return res
	}
	if o.BuildOnTarget {
		if err := buildOnHost(ctx, env, h, o, pkg, tr.Session, single); err != nil {
			res.Err = err
			return res
		}
	}
	res.Paths, res.Sent, res.Substituted = tr.Stats.Missing, tr.Stats.WireBytes, tr.Stats.Substituted
	if single && tr.Stats.Missing == 0 {
		fmt.Fprintf(env.Stderr, "%s: all %d paths already there\n", target, tr.Stats.Paths)
	}
	if err := uploadSecrets(ctx, h, m.Name, o.secrets); err != nil {
		res.Err = err
		return res
	}
	dep, err := h.agent.Deploy(ctx, proto.Deploy{
		App: m.Name, Package: pkg, PushedBy: pushedBy(), Force: o.Force, Session: tr.Session,
		Secrets: o.secrets.Hash(),
	}, func(p proto.Progress) {
		if p.Stage == "waiting" { // another push of this app holds the host's lock
			fmt.Fprintf(env.Stderr, "%s: %s\n", target, p.Message)
		}
		if single {
			env.Log.Info("agent", "stage", p.Stage, "message", p.Message)
		}
	})
	if err != nil {
		res.Err = err
		return res
	}
	res.Generation, res.Changed = dep.Generation, dep.Changed
	return res
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

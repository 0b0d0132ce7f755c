package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/nixstore"
)

// Exit codes of nd-agent.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Program is what cmd/nd-agent hands to Main.
type Program struct {
	Version string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// NewRuntime makes the container runtime for serve; nil: none (deploys
	// fail, transfers work).
	NewRuntime func(ctx context.Context, cfg RuntimeConfig) (Runtime, error)
}

// RuntimeConfig is what serve tells NewRuntime.
type RuntimeConfig struct {
	Log hclog.Logger
	// StoreRoot is the chroot store's root ("" for the real /nix/store).
	StoreRoot string
	// Registry is the agent's image store and loopback registry, through
	// which images reach dockerd.
	Registry *imagereg.Registry
}

const usage = `usage:
  nd-agent serve [--socket PATH] [--state DIR] [--group NAME] [--keep N] [--log-level LEVEL]
  nd-agent dial-stdio [--socket PATH]
  nd-agent check [--repair] [--json] [--socket PATH]
  nd-agent version
`

// Main is nd-agent's whole program; it returns the exit code.
func Main(ctx context.Context, p Program, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(p.Stderr, usage)
		return ExitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, p, args[1:])
	case "dial-stdio":
		err = runDialStdio(ctx, p, args[1:])
	case "check":
		err = runCheck(ctx, p, args[1:])
	case "version":
		fmt.Fprintln(p.Stdout, p.Version)
	case "help", "-h", "--help":
		fmt.Fprint(p.Stdout, usage)
	default:
		err = usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errProblems):
		return ExitFailure
	case errors.As(err, &ue):
		fmt.Fprintf(p.Stderr, "nd-agent: %v\n%s", err, usage)
		return ExitUsage
	default:
		fmt.Fprintf(p.Stderr, "nd-agent: %v\n", err)
		return ExitFailure
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

type serveOptions struct {
	socket, state, group, storeRoot, logLevel string
	keep                                      int
}

func runServe(ctx context.Context, p Program, args []string) error {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(p.Stderr)
	fs.StringVar(&o.socket, "socket", DefaultSocket, "unix socket to serve")
	fs.StringVar(&o.state, "state", DefaultStateDir, "state directory")
	fs.StringVar(&o.group, "group", "", "group allowed to use the socket (default: root only); its members are root-equivalent")
	fs.StringVar(&o.storeRoot, "store-root", "", "serve the chroot Nix store under this directory (tests)")
	fs.StringVar(&o.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.IntVar(&o.keep, "keep", DefaultKeepGenerations, "superseded generations kept per app")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() != 0 {
		return usageError("serve takes no arguments")
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "nd-agent", Level: hclog.LevelFromString(o.logLevel), Output: p.Stderr})
	// Absolute, because nd-push uploads secrets below it (Capabilities).
	state, err := filepath.Abs(o.state)
	if err != nil {
		return fmt.Errorf("state directory %q: %w", o.state, err)
	}
	o.state = state
	if err := os.MkdirAll(o.state, 0o700); err != nil {
		return fmt.Errorf("making state directory: %w", err)
	}
	images, err := imagereg.Open(filepath.Join(o.state, "images"))
	if err != nil {
		return err
	}
	reg, err := images.Serve()
	if err != nil {
		return err
	}
	defer reg.Close()
	var rt Runtime
	if p.NewRuntime != nil {
		var err error
		if rt, err = p.NewRuntime(ctx, RuntimeConfig{Log: log.Named("runtime"), StoreRoot: o.storeRoot, Registry: reg}); err != nil {
			return fmt.Errorf("setting up the container runtime: %w", err)
		}
	}
	a := New(Config{
		StateDir: o.state, Store: &nixstore.Store{Root: o.storeRoot}, Runtime: rt, Images: reg,
		KeepGenerations: o.keep, NDVersion: p.Version, Log: log,
		CrashAt: os.Getenv(CrashEnv), Importer: os.Getenv(ImporterEnv),
	})
	l, err := Listen(o.socket, o.group)
	if err != nil {
		return err
	}
	if o.group != "" {
		// Like the docker group: a member imports store paths root later
		// trusts and runs containers as root. Say so where it is enabled.
		log.Warn("members of the socket's group are root-equivalent on this host: they can import any store path under any name and deploy any package", "group", o.group)
	}
	caps := a.Capabilities(ctx)
	log.Info("serving", "socket", o.socket, "version", p.Version, "nix", caps.Nix, "nixError", caps.NixError,
		"docker", caps.Docker, "dockerError", caps.DockerError)
	err = a.Serve(ctx, l)
	os.Remove(o.socket)
	return err
}

func runDialStdio(ctx context.Context, p Program, args []string) error {
	fs := flag.NewFlagSet("dial-stdio", flag.ContinueOnError)
	fs.SetOutput(p.Stderr)
	socket := fs.String("socket", DefaultSocket, "the agent's unix socket")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	return DialStdio(ctx, *socket, p.Stdin, p.Stdout)
}

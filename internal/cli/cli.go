// Package cli implements nd-push's commands. Each command lives in its own
// file with an options struct and a runX(ctx, ...) error that tests call
// directly. cli talks to nd-agent only through internal/agentclient and never
// imports the Docker client.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/proto"
)

// Exit codes of nd-push, documented in README.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed (build, transfer, deploy)
	ExitUsage   = 2 // bad arguments
)

// Env is what every command gets from main: streams and a logger.
type Env struct {
	Stdin  io.Reader // os.Stdin from Run (exec --stdin)
	Stdout io.Writer
	Stderr io.Writer
	Log    hclog.Logger
}

// UsageError marks errors in how the command was called.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// commands lists nd-push's subcommands; a first argument that is none of
// these is a push target (nd-push [flags] HOST... CONFIG).
func commands() []command {
	return []command{
		{"build", "build CONFIG into a deploy package and print its store path", runBuildCmd},
		{"install-agent", "upload nd-agent to a host and start it (systemd, or --no-systemd)", runInstallAgentCmd},
		{"status", "show a host's apps: generation, package, container state, health, ports", runStatusCmd},
		{"logs", "show (-f: follow) an app's container output", runLogsCmd},
		{"exec", "run a command in an app's running container", runExecCmd},
		{"rollback", "run an earlier generation of an app again (nothing is built or copied)", runRollbackCmd},
		{"rm", "remove an app from a host (its volumes only with --volumes)", runRmCmd},
	}
}

const usageText = `usage:
  nd-push [flags] [user@]host... CONFIG   build CONFIG (or FLAKE#NAME) and deploy it to each host
  nd-push COMMAND [flags] ARGS...

commands:
`

// Run is nd-push's whole program; main only maps its result to an exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	level := hclog.Warn
	if os.Getenv("ND_DEBUG") != "" {
		level = hclog.Debug
	}
	env := &Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Log: hclog.New(&hclog.LoggerOptions{
		Name: "nd-push", Level: level, Output: stderr,
	})}
	err := dispatch(ctx, env, args)
	var ec *ExitCodeError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ec):
		return ec.Code // exec: the command's own exit code, nothing to add
	case errors.As(err, new(*UsageError)):
		fmt.Fprintf(stderr, "nd-push: %v\n", err)
		fmt.Fprintf(stderr, "run 'nd-push help' for usage\n")
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "nd-push: %v\n", err)
		return ExitFailure
	}
}

func dispatch(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		printUsage(env.Stderr)
		return usagef("missing arguments")
	}
	switch args[0] {
	case "help", "-h", "--help":
		printUsage(env.Stdout)
		return nil
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "nd-push %s (agent protocol %d)\n", Version, proto.Version)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	return runPushCmd(ctx, env, args)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usageText)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
}

// Package cli implements nd-push's commands. Each command lives in its own
// file with an options struct, a newXCmd that builds its cobra command (how
// the options get filled) and a runX(ctx, ...) error that tests call
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
)

// Exit codes of nd-push, documented in README.
const (
	ExitOK          = 0
	ExitFailure     = 1   // the command ran and failed (build, transfer, deploy)
	ExitUsage       = 2   // bad arguments
	ExitInterrupted = 130 // Ctrl-C (SIGINT) or SIGTERM, as shells report 128+SIGINT
)

// Env is what every command gets from main: streams and a logger.
type Env struct {
	Stdin  io.Reader // os.Stdin from Run (exec --stdin, rm's question)
	Stdout io.Writer
	Stderr io.Writer
	Log    hclog.Logger
}

// UsageError marks errors in how the command was called.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// Run is nd-push's whole program; main only maps its result to an exit code.
// ctx is cancelled by main on SIGINT/SIGTERM: a run that ends because of it
// exits 130 with one line, whatever step it was in.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	level := hclog.Warn
	if os.Getenv("ND_DEBUG") != "" {
		level = hclog.Debug
	}
	env := &Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Log: hclog.New(&hclog.LoggerOptions{
		Name: "nd-push", Level: level, Output: stderr,
	})}
	root := newRootCmd(env)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var ec *ExitCodeError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ec):
		return ec.Code // exec: the command's own exit code, nothing to add
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "nd-push: interrupted")
		return ExitInterrupted
	case errors.As(err, new(*UsageError)):
		fmt.Fprintf(stderr, "nd-push: %v\n", err)
		path := "nd-push"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "run '%s --help' for usage\n", path)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "nd-push: %v\n", err)
		return ExitFailure
	}
}

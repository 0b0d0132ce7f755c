// Package nixcmd runs Nix's programs (nix-build, nix-instantiate,
// nix-store, nix) for nd, on the laptop and on the agent alike: it finds
// them where installers put them (Find), captures their standard error and
// wraps failures in an *Error naming the command. Every Nix command nd runs
// goes through a Runner, so tests can observe or replace it. It imports
// nothing of nd; nixbuild, nixstore, image, the CLI and the agent use it.
package nixcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Runner makes the command that runs a program. Tests inject one to observe
// or alter invocations; the nil Runner is Exec. Its methods run commands with
// stderr captured and errors wrapped.
type Runner func(ctx context.Context, name string, args ...string) *exec.Cmd

// Exec makes the command with os/exec, killed when ctx ends. A Nix program
// (nix, nix-*) is looked up with Find first, so that one the installers put
// off PATH is found; one found nowhere fails at Start with an *exec.Error
// that names every place looked at.
func Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	if name == "nix" || strings.HasPrefix(name, "nix-") {
		p, err := Find(name)
		if err != nil {
			c := exec.CommandContext(ctx, name, args...)
			c.Err = &exec.Error{Name: name, Err: err}
			return c
		}
		return exec.CommandContext(ctx, p, args...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// Command makes the command for name and args.
func (r Runner) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if r == nil {
		return Exec(ctx, name, args...)
	}
	return r(ctx, name, args...)
}

// Output runs name with args, stdin (if not nil) as its input, and returns
// its standard output.
func (r Runner) Output(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	if err := r.run(ctx, stdin, &stdout, nil, name, args); err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

// Run runs name with args, its output going to stdout and (also) to stderr,
// either of which may be nil. Its standard error is kept for the *Error all
// the same.
func (r Runner) Run(ctx context.Context, stdout, stderr io.Writer, name string, args ...string) error {
	return r.run(ctx, nil, stdout, stderr, name, args)
}

func (r Runner) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, name string, args []string) error {
	c := r.Command(ctx, name, args...)
	var errb bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, &errb
	if stderr != nil {
		c.Stderr = io.MultiWriter(&errb, stderr)
	}
	if err := c.Run(); err != nil {
		return &Error{Command: describe(name, args), Stderr: strings.TrimSpace(errb.String()), Err: err}
	}
	return nil
}

// Error is a Nix command that failed: the command (its program and first
// arguments), what it said on standard error, and the cause (an
// *exec.ExitError, an *exec.Error for a program not found, or the
// context's error).
type Error struct {
	Command string
	Stderr  string
	Err     error
}

func (e *Error) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", e.Command, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Command, e.Err, e.Stderr)
}

func (e *Error) Unwrap() error { return e.Err }

// Stderr is what the failed command of err said on its standard error; ""
// when err holds no *Error.
func Stderr(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Stderr
	}
	return ""
}

// describe names a command in errors: the program and its first arguments,
// since a query may carry thousands of store paths.
func describe(name string, args []string) string {
	const shown = 4
	s := append([]string{name}, args[:min(len(args), shown)]...)
	if len(args) > shown {
		s = append(s, fmt.Sprintf("... (%d more)", len(args)-shown))
	}
	return strings.Join(s, " ")
}

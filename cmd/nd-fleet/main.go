// Command nd-fleet starts and manages simulated droplets (see internal/fleet)
// for people and the README demo:
//
//	nd-fleet up [--kind bookworm|modern] [--containerd-store] [--nix-layout debian|installer]
//	            [--no-nix] [--no-docker] [--no-streamlocal] [--rate R] [-n N] [NAME...]
//	nd-fleet down NAME... | --all | --stale
//	nd-fleet list
//	nd-fleet reboot NAME...        (modern droplets: systemd reboots them)
//	nd-fleet exec NAME -- CMD...
//	nd-fleet start [--name P] NAME -- CMD...
//	nd-fleet stop NAME P
//	nd-fleet shape NAME RATE       (RATE "" or "off" removes shaping)
//	nd-fleet leftovers             (exit 1 if anything of the fleet is left)
//
// Droplets started by `up` keep running after nd-fleet exits; their state is
// under /run/nd-fleet. Exit codes: 0 success, 1 failure, 2 usage; exec
// passes on the command's exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// usageError marks bad command lines (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries an exit code to pass on (exec).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `usage:
  nd-fleet up [--kind bookworm|modern] [--containerd-store] [--nix-layout debian|installer]
              [--no-nix] [--no-docker] [--no-streamlocal] [--rate R] [-n N] [NAME...]
  nd-fleet down NAME... | --all | --stale
  nd-fleet list
  nd-fleet reboot NAME...
  nd-fleet exec NAME -- CMD...
  nd-fleet start [--name P] NAME -- CMD...
  nd-fleet stop NAME P
  nd-fleet shape NAME RATE
  nd-fleet leftovers
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "nd-fleet: %v\n%s", err, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "nd-fleet: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return cmdUp(ctx, rest, stdout)
	case "down":
		return cmdDown(ctx, rest)
	case "list", "ls":
		return cmdList(ctx, rest, stdout)
	case "exec":
		return cmdExec(ctx, rest, stdin, stdout, stderr)
	case "start":
		return cmdStart(ctx, rest, stdout)
	case "stop":
		return cmdStop(ctx, rest)
	case "shape":
		return cmdShape(ctx, rest)
	case "reboot":
		return cmdReboot(ctx, rest)
	case "leftovers":
		return cmdLeftovers(ctx, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

package main

import (
	"context"
	"errors"
	"io"
	"os/exec"

	"github.com/nd-project/nd/internal/fleet"
)

// splitCommand parses "NAME -- CMD..." (the "--" is optional).
func splitCommand(args []string) (string, []string, error) {
	if len(args) < 2 {
		return "", nil, usageError{"need NAME -- CMD..."}
	}
	name, cmd := args[0], args[1:]
	if cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		return "", nil, usageError{"need a command after --"}
	}
	return name, cmd, nil
}

func cmdExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	name, argv, err := splitCommand(args)
	if err != nil {
		return err
	}
	d, err := fleet.Load(name)
	if err != nil {
		return err
	}
	cmd := d.Command(ctx, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return exitError{ee.ExitCode()}
	}
	return err
}

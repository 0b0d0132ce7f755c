package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"

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

func cmdStart(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pname := fs.String("name", "", "name of the background process (default: base name of CMD)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	name, argv, err := splitCommand(fs.Args())
	if err != nil {
		return err
	}
	if *pname == "" {
		*pname = filepath.Base(argv[0])
	}
	d, err := fleet.Load(name)
	if err != nil {
		return err
	}
	if err := d.Start(ctx, *pname, argv...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%s\n", *pname, d.LogFile(*pname))
	return nil
}

func cmdStop(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return usageError{"stop needs NAME and the process name"}
	}
	d, err := fleet.Load(args[0])
	if err != nil {
		return err
	}
	return d.Stop(ctx, args[1])
}

func cmdShape(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return usageError{"shape needs NAME and RATE"}
	}
	d, err := fleet.Load(args[0])
	if err != nil {
		return err
	}
	rate := args[1]
	if rate == "off" {
		rate = ""
	}
	return d.Shape(ctx, rate)
}

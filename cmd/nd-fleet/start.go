package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/nd-project/nd/internal/fleet"
)

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

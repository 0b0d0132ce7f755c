package main

import (
	"context"
	"flag"
	"io"

	"github.com/nd-project/nd/internal/fleet"
)

func cmdDown(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	all := fs.Bool("all", false, "remove every droplet and leftover of the fleet on this machine")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	return runDown(ctx, *all, fs.Args())
}

func runDown(_ context.Context, all bool, names []string) error {
	switch {
	case all && len(names) > 0:
		return usageError{"give NAMEs or --all, not both"}
	case all:
		return fleet.DownAll()
	case len(names) == 0:
		return usageError{"down needs NAMEs or --all"}
	}
	return fleet.Down(names...)
}

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
	stale := fs.Bool("stale", false, "remove what dead processes left (not droplets kept by up)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	return runDown(ctx, *all, *stale, fs.Args())
}

func runDown(_ context.Context, all, stale bool, names []string) error {
	switch {
	case (all || stale) && len(names) > 0, all && stale:
		return usageError{"give NAMEs, --all or --stale"}
	case all:
		return fleet.DownAll()
	case stale:
		return fleet.CleanStale()
	case len(names) == 0:
		return usageError{"down needs NAMEs, --all or --stale"}
	}
	return fleet.Down(names...)
}

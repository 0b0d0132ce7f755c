package main

import (
	"context"

	"github.com/nd-project/nd/internal/fleet"
)

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

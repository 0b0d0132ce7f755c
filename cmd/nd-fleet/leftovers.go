package main

import (
	"context"
	"fmt"
	"io"

	"github.com/nd-project/nd/internal/fleet"
)

func cmdLeftovers(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{"leftovers takes no arguments"}
	}
	left := fleet.Leftovers()
	for _, l := range left {
		fmt.Fprintln(stdout, l)
	}
	if len(left) > 0 {
		return fmt.Errorf("%d fleet leftovers (remove them with: nd-fleet down --all)", len(left))
	}
	return nil
}

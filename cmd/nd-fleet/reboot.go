package main

import (
	"context"

	"github.com/nd-project/nd/internal/fleet"
)

func cmdReboot(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"reboot needs NAME..."}
	}
	for _, name := range args {
		d, err := fleet.Load(name)
		if err != nil {
			return err
		}
		if err := d.Reboot(ctx); err != nil {
			return err
		}
	}
	return nil
}

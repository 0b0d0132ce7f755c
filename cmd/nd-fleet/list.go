package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nd-project/nd/internal/fleet"
)

func cmdList(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{"list takes no arguments"}
	}
	return runList(ctx, stdout)
}

func runList(_ context.Context, stdout io.Writer) error {
	ds, err := fleet.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tADDR\tNIX\tDOCKER\tSSH_CONFIG")
	for _, d := range ds {
		nix, docker := "no", "no"
		if d.HasNix {
			nix = "yes"
			if d.NixLayout != "" {
				nix = string(d.NixLayout)
			}
		}
		if d.HasDocker {
			docker = "yes"
			if d.ContainerdStore {
				docker = "containerd-store"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Kind, d.Addr, nix, docker, d.SSHConfig())
	}
	return tw.Flush()
}

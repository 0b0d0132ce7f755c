package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
)

// rmOptions are nd-push rm's flags and arguments.
type rmOptions struct {
	ssh       sshFlags
	Volumes   bool
	Yes       bool // --yes: no question before removing volumes
	Host, App string
}

func newRmCmd(env *Env) *cobra.Command {
	o := &rmOptions{}
	c := hostCmd("rm [flags] HOST APP", "remove an app from a host (its volumes only with --volumes)",
		hostArgs(2, 2), &o.ssh, func(cmd *cobra.Command, args []string) error {
			o.Host, o.App = args[0], args[1]
			if o.Volumes && !o.Yes {
				if err := confirm(env, fmt.Sprintf("remove %s from %s with its volumes? Their data is lost.", o.App, o.Host)); err != nil {
					return err
				}
			}
			return runRm(cmd.Context(), env, o)
		})
	c.Flags().BoolVar(&o.Volumes, "volumes", false, "also remove the app's named volumes (their data is lost; asks first)")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask before removing volumes")
	return c
}

// runRm removes an app from a host: its container, images, GC roots,
// generations and secrets; its volumes only with --volumes.
func runRm(ctx context.Context, env *Env, o *rmOptions) error {
	h, err := connect(ctx, env, &o.ssh, o.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	res, err := h.agent.Remove(ctx, proto.Remove{App: o.App, Volumes: o.Volumes}, func(p proto.Progress) {
		fmt.Fprintf(env.Stderr, "%s: %s\n", o.Host, p.Message)
	})
	if err != nil {
		return err
	}
	kept := "volumes kept"
	if o.Volumes {
		kept = "volumes removed"
	}
	what := "container"
	if !res.Container {
		what = "no container"
	}
	fmt.Fprintf(env.Stdout, "%s: %s removed (%s, %d generations, %s)\n", o.Host, o.App, what, res.Generations, kept)
	return nil
}

package cli

import (
	"context"
	"fmt"

	"github.com/nd-project/nd/internal/proto"
)

// rmOptions are nd-push rm's flags and arguments.
type rmOptions struct {
	ssh       sshFlags
	Volumes   bool
	Host, App string
}

func runRmCmd(ctx context.Context, env *Env, args []string) error {
	o := &rmOptions{}
	fs := newHostFlagSet("rm", "HOST APP", env.Stderr, &o.ssh)
	fs.BoolVar(&o.Volumes, "volumes", false, "also remove the app's named volumes (their data is lost)")
	pos, err := parseHostArgs(fs, args, 2, 2)
	if err != nil {
		return err
	}
	o.Host, o.App = pos[0], pos[1]
	return runRm(ctx, env, o)
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

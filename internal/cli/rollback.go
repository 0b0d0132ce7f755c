package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
)

// rollbackOptions are nd-push rollback's flags and arguments.
type rollbackOptions struct {
	ssh        sshFlags
	Host, App  string
	Generation int // 0: the previous one
}

func newRollbackCmd(env *Env) *cobra.Command {
	o := &rollbackOptions{}
	return hostCmd("rollback [flags] HOST APP [GENERATION]", "run an earlier generation of an app again (nothing is built or copied)",
		hostArgs(2, 3), &o.ssh, func(cmd *cobra.Command, args []string) error {
			o.Host, o.App = args[0], args[1]
			if len(args) == 3 {
				n, err := strconv.Atoi(args[2])
				if err != nil || n <= 0 {
					return usagef("rollback: generation %q is not a positive number", args[2])
				}
				o.Generation = n
			}
			return runRollback(cmd.Context(), env, o)
		})
}

// runRollback makes the app run the package of an earlier generation; the
// agent records that as a new generation. Nothing is built or copied.
func runRollback(ctx context.Context, env *Env, o *rollbackOptions) error {
	h, err := connect(ctx, env, &o.ssh, o.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	res, err := h.agent.Rollback(ctx, proto.Rollback{App: o.App, Generation: o.Generation, PushedBy: pushedBy()}, func(p proto.Progress) {
		if p.Stage == "waiting" || p.Stage == "deploy" || p.Stage == "rollback" {
			fmt.Fprintf(env.Stderr, "%s: %s\n", o.Host, p.Message)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s rolled back, now generation %d\n", o.Host, o.App, res.Generation)
	return nil
}

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
)

// lifecycleOptions are nd-push restart/stop/start's flags and arguments.
type lifecycleOptions struct {
	ssh       sshFlags
	Op        proto.Action // proto.ActionRestart, ActionStop or ActionStart
	Host, App string
}

func newRestartCmd(env *Env) *cobra.Command {
	return newLifecycleCmd(env, proto.ActionRestart, "restart an app's container (same generation, nothing deployed)")
}

func newStopCmd(env *Env) *cobra.Command {
	return newLifecycleCmd(env, proto.ActionStop, "stop an app's container; it stays stopped, across reboots too, until start or a deploy")
}

func newStartCmd(env *Env) *cobra.Command {
	return newLifecycleCmd(env, proto.ActionStart, "start an app's stopped container again")
}

func newLifecycleCmd(env *Env, op proto.Action, short string) *cobra.Command {
	o := &lifecycleOptions{Op: op}
	return hostCmd(string(op)+" [flags] HOST APP", short, hostArgs(2, 2), &o.ssh, func(cmd *cobra.Command, args []string) error {
		o.Host, o.App = args[0], args[1]
		return runLifecycle(cmd.Context(), env, o)
	})
}

// runLifecycle asks the agent to restart, stop or start the app's container
// and prints its state afterwards.
func runLifecycle(ctx context.Context, env *Env, o *lifecycleOptions) error {
	h, err := connect(ctx, env, &o.ssh, o.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	st, err := h.agent.Lifecycle(ctx, o.Op, proto.AppOp{App: o.App}, func(p proto.Progress) {
		if p.Stage == "waiting" {
			fmt.Fprintf(env.Stderr, "%s: %s\n", o.Host, p.Message)
		}
	})
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", o.Op, o.App, o.Host, err)
	}
	c := st.Container
	fmt.Fprintf(env.Stdout, "%s: %s %s (generation %d, container %.12s)\n", o.Host, o.App, c.State, c.Generation, c.ID)
	return nil
}

package cli

import (
	"context"

	"github.com/nd-project/nd/internal/proto"
)

// logsOptions are nd-push logs' flags and arguments.
type logsOptions struct {
	ssh       sshFlags
	Follow    bool
	Tail      int // < 0: all
	Host, App string
}

func runLogsCmd(ctx context.Context, env *Env, args []string) error {
	o := &logsOptions{}
	fs := newHostFlagSet("logs", "HOST APP", env.Stderr, &o.ssh)
	fs.BoolVar(&o.Follow, "f", false, "follow the output until interrupted")
	fs.IntVar(&o.Tail, "tail", -1, "show only the last `N` lines (default: all)")
	pos, err := parseHostArgs(fs, args, 2, 2)
	if err != nil {
		return err
	}
	o.Host, o.App = pos[0], pos[1]
	return runLogs(ctx, env, o)
}

// runLogs copies the app container's output (stdout and stderr, as nd-init
// prefixed it) to stdout; with -f until ctx ends, which is then no error.
func runLogs(ctx context.Context, env *Env, o *logsOptions) error {
	h, err := connect(ctx, env, &o.ssh, o.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	err = h.agent.Logs(ctx, proto.Logs{App: o.App, Follow: o.Follow, Tail: o.Tail}, env.Stdout)
	if err != nil && o.Follow && ctx.Err() != nil {
		return nil
	}
	return err
}

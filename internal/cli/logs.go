package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
)

// logsOptions are nd-push logs' flags and arguments.
type logsOptions struct {
	ssh        sshFlags
	Follow     bool
	Tail       int    // < 0: all
	Since      string // --since: a duration ago or an RFC 3339 time
	Timestamps bool
	Host, App  string
}

func newLogsCmd(env *Env) *cobra.Command {
	o := &logsOptions{Tail: -1}
	c := hostCmd("logs [flags] HOST APP", "show (-f: follow) an app's container output",
		hostArgs(2, 2), &o.ssh, func(cmd *cobra.Command, args []string) error {
			o.Host, o.App = args[0], args[1]
			if o.Since != "" {
				if err := checkSince(o.Since); err != nil {
					return err
				}
			}
			return runLogs(cmd.Context(), env, o)
		})
	fs := c.Flags()
	fs.BoolVarP(&o.Follow, "follow", "f", false, "follow the output until interrupted")
	fs.Var(tailFlag{&o.Tail}, "tail", "show only the last `N` lines")
	fs.StringVar(&o.Since, "since", "", "show output since `TIME`: a duration ago (10m, 1h30m) or an RFC 3339 time")
	fs.BoolVarP(&o.Timestamps, "timestamps", "t", false, "prefix each line with the time Docker received it")
	return c
}

// runLogs copies the app container's output (stdout and stderr, as nd-init
// prefixed it) to stdout; with -f until ctx ends, which is then no error.
func runLogs(ctx context.Context, env *Env, o *logsOptions) error {
	h, err := connect(ctx, env, &o.ssh, o.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	req := proto.Logs{App: o.App, Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps}
	if o.Since != "" {
		t, err := parseSince(o.Since, time.Now())
		if err != nil {
			return err
		}
		req.Since = t.Unix()
	}
	err = h.agent.Logs(ctx, req, env.Stdout)
	if err != nil && o.Follow && ctx.Err() != nil {
		return nil
	}
	return err
}

func checkSince(s string) error {
	_, err := parseSince(s, time.Now())
	return err
}

// parseSince reads --since: a duration before now (10m, 1h30m, as docker
// logs takes it) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("logs --since %q: want a duration (10m, 2h) or an RFC 3339 time (2026-01-02T15:04:05Z)", s)
}

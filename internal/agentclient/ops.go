package agentclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nd-project/nd/internal/proto"
)

// Rollback makes req.App run an earlier generation again (see
// proto.Rollback); progress (may be nil) gets the agent's steps.
func (cl *Client) Rollback(ctx context.Context, req proto.Rollback, progress func(proto.Progress)) (proto.Deployed, error) {
	var r proto.Deployed
	err := cl.call(ctx, proto.TypeRollback, &req, proto.TypeDeployed, &r, progress)
	return r, err
}

// Remove deletes an app from the host (see proto.Remove).
func (cl *Client) Remove(ctx context.Context, req proto.Remove, progress func(proto.Progress)) (proto.Removed, error) {
	var r proto.Removed
	err := cl.call(ctx, proto.TypeRemove, &req, proto.TypeRemoved, &r, progress)
	return r, err
}

// Logs copies the output of req.App's container to w. With req.Follow it
// returns when ctx ends (then with ctx's error).
func (cl *Client) Logs(ctx context.Context, req proto.Logs, w io.Writer) error {
	st, err := cl.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.c.Send(proto.TypeLogs, &req); err != nil {
		return cl.wrap(ctx, err)
	}
	if err := cl.reply(ctx, st, proto.TypeLogsStarted, &proto.LogsStarted{}, nil); err != nil {
		return err
	}
	if _, err := io.Copy(w, st.c.DataReader()); err != nil {
		return cl.wrap(ctx, err)
	}
	return cl.reply(ctx, st, proto.TypeLogsDone, &proto.LogsDone{}, nil)
}

// ExecIO is the local side of an Exec.
type ExecIO struct {
	Stdin  io.Reader // read only if the request has Stdin
	Stdout io.Writer
	Stderr io.Writer
	// Resize, if set, delivers terminal size changes to pass on.
	Resize <-chan proto.Resize
}

// Exec runs req.Cmd in req.App's container and returns its exit code.
func (cl *Client) Exec(ctx context.Context, req proto.Exec, stdio ExecIO) (int, error) {
	st, err := cl.open(ctx)
	if err != nil {
		return -1, err
	}
	defer st.Close()
	if err := st.c.Send(proto.TypeExec, &req); err != nil {
		return -1, cl.wrap(ctx, err)
	}
	if err := cl.reply(ctx, st, proto.TypeExecStarted, &proto.ExecStarted{}, nil); err != nil {
		return -1, err
	}
	if req.Stdin && stdio.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdio.Stdin.Read(buf)
				if n > 0 {
					if st.c.Send(proto.TypeInput, &proto.Input{Data: buf[:n]}) != nil {
						return
					}
				}
				if err != nil {
					st.c.Send(proto.TypeInput, &proto.Input{EOF: true})
					return
				}
			}
		}()
	} else if req.Stdin {
		st.c.Send(proto.TypeInput, &proto.Input{EOF: true})
	}
	if stdio.Resize != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case rs, ok := <-stdio.Resize:
					if !ok || st.c.Send(proto.TypeResize, &rs) != nil {
						return
					}
				}
			}
		}()
	}
	out := map[int]io.Writer{1: stdio.Stdout, 2: stdio.Stderr}
	for {
		env, err := st.c.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("stream closed before the command's exit code")
			}
			return -1, cl.wrap(ctx, err)
		}
		switch env.Type {
		case proto.TypeOutput:
			var o proto.Output
			if err := proto.Decode(env, proto.TypeOutput, &o); err != nil {
				return -1, cl.wrap(ctx, err)
			}
			if w := out[o.Stream]; w != nil {
				w.Write(o.Data)
			}
		case proto.TypeProgress:
		default:
			var x proto.ExecExited
			if err := proto.Decode(env, proto.TypeExecExited, &x); err != nil {
				return -1, cl.wrap(ctx, err)
			}
			return x.Code, nil
		}
	}
}

// Lifecycle restarts, stops or starts req.App's container: op is
// proto.TypeRestart, TypeStop or TypeStart.
func (cl *Client) Lifecycle(ctx context.Context, op proto.Type, req proto.AppOp, progress func(proto.Progress)) (proto.AppState, error) {
	var r proto.AppState
	err := cl.call(ctx, op, &req, proto.TypeAppState, &r, progress)
	return r, err
}

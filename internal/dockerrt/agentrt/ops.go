package agentrt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/dockerrt"
	"github.com/nd-project/nd/internal/proto"
)

var (
	_ agent.Operator             = (*Runtime)(nil)
	_ agent.ReleaseVolumeRemover = (*Runtime)(nil)
	_ agent.ExecStream           = (*dockerrt.ExecStream)(nil)
)

// noApp turns dockerrt's ErrNoApp into the agent's ErrNoContainer.
func noApp(err error) error {
	if errors.Is(err, dockerrt.ErrNoApp) {
		return fmt.Errorf("%w: %w", agent.ErrNoContainer, err)
	}
	return err
}

// Inspect implements agent.Operator.
func (r *Runtime) Inspect(ctx context.Context, app string) (*proto.ContainerStatus, error) {
	st, err := r.rt.Status(ctx, app)
	if err != nil {
		return nil, noApp(err)
	}
	cs := &proto.ContainerStatus{
		ID: st.ContainerID, Image: st.Image, Package: st.Package, Generation: st.Generation, Mode: st.Mode,
		State: st.State, Health: st.Health, ExitCode: st.ExitCode, RestartCount: st.RestartCount,
	}
	if !st.StartedAt.IsZero() {
		cs.StartedAt = st.StartedAt.UTC().Format(time.RFC3339)
	}
	for _, p := range st.Ports {
		cs.Ports = append(cs.Ports, proto.PortMap{HostIP: p.HostIP, Host: p.Host, Container: p.Container, Protocol: p.Protocol})
	}
	if len(st.Ports) > 0 {
		cs.PortsBy = "docker"
		if st.Routed {
			cs.PortsBy, cs.Routes = "nd-agent", st.RoutedTo
		}
	}
	if d := st.Draining; d != nil {
		cs.Draining = &proto.DrainingContainer{ID: d.ContainerID, Package: d.Package, Generation: d.Generation, State: d.State}
	}
	return cs, nil
}

// Logs implements agent.Operator.
func (r *Runtime) Logs(ctx context.Context, app string, req proto.Logs) (io.ReadCloser, error) {
	o := dockerrt.LogsOptions{Follow: req.Follow, Tail: req.Tail, Timestamps: req.Timestamps}
	if req.Since != 0 {
		o.Since = strconv.FormatInt(req.Since, 10)
	}
	rc, err := r.rt.Logs(ctx, app, o)
	return rc, noApp(err)
}

// Lifecycle implements agent.Controller.
func (r *Runtime) Lifecycle(ctx context.Context, app, action string) error {
	return noApp(r.rt.Lifecycle(ctx, app, action))
}

// Exec implements agent.Operator: dockerd's stream of the command is the
// agent's to splice.
func (r *Runtime) Exec(ctx context.Context, app string, s agent.ExecSpec) (agent.ExecStream, error) {
	st, err := r.rt.StartExec(ctx, app, dockerrt.ExecOptions{
		Cmd: s.Cmd, TTY: s.TTY, Size: dockerrt.Terminal{Rows: s.Rows, Cols: s.Cols}, Stdin: s.Stdin,
	})
	if err != nil {
		return nil, noApp(err)
	}
	return st, nil
}

// Remove implements agent.Operator.
func (r *Runtime) Remove(ctx context.Context, app string, volumes bool) error {
	return noApp(r.rt.Remove(ctx, app, volumes))
}

// RemoveReleaseVolumes implements agent.ReleaseVolumeRemover.
func (r *Runtime) RemoveReleaseVolumes(ctx context.Context, app, release string) error {
	return r.rt.RemoveReleaseVolumes(ctx, app, release)
}

package dockerrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
)

// waitReady waits until container id has started — nd-init says every
// process stayed up for its startsecs or listens (or, with an nd-init that
// cannot say, it ran for the settle time) — and, if it has a healthcheck and
// full is set, is healthy.
func (r *Runtime) waitReady(ctx context.Context, id string, spec deployspec.Spec, full bool) (err error) {
	settle := spec.SettleTime
	if settle <= 0 {
		settle = DefaultSettleTime
	}
	if !full {
		settle = settle / 2
	}
	timeout := healthTimeout(spec)
	// With nd-init inside, "started" is its word: every oneshot done and
	// every process listening or up for its startsecs (a crash loop never
	// gets there), told the moment it happens. Containers whose nd-init
	// predates probe-ready fall back to the settle time alone.
	probe := full && runsNDInit(spec.Manifest)
	var probed <-chan error
	if probe {
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := make(chan error, 1)
		go func() { ch <- r.awaitProcesses(pctx, id, spec.Manifest.Init) }()
		probed = ch
	}
	started := false
	start := time.Now()
	r.log.Info("container started, waiting until ready", "container", short(id), "probe", probe)
	defer func() {
		// For the benchmark's stage breakdown (docs/BENCHMARKS.md).
		if err == nil {
			r.log.Info("container ready", "container", short(id), "waited_s", fmt.Sprintf("%.3f", time.Since(start).Seconds()))
		}
	}()
	// The container is inspected every tick for its death, and once more
	// as soon as nd-init says its processes started.
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		ci, err := r.c.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("inspecting new container: %w", err)
		}
		st := ci.State
		if st == nil {
			return fmt.Errorf("inspecting new container: no state")
		}
		if !st.Running || st.Restarting || ci.RestartCount > 0 {
			msg := fmt.Sprintf("container exited with code %d", st.ExitCode)
			if st.Error != "" {
				msg += ": " + st.Error
			}
			if st.OOMKilled {
				msg += " (out of memory)"
			}
			return errors.New(msg)
		}
		if probe && !started && time.Since(start) > timeout {
			return fmt.Errorf("processes not all started after %s", timeout)
		}
		up := time.Since(start) >= settle
		if probe {
			up = started
		}
		if !full || !hasHealthcheck(ci.Config) {
			if up {
				return nil
			}
		} else {
			status := container.Starting // until the first probe
			if st.Health != nil {
				status = st.Health.Status
			}
			switch status {
			case container.Healthy:
				if up {
					return nil
				}
			case container.Unhealthy:
				return fmt.Errorf("container unhealthy%s", lastProbe(st.Health))
			}
			if time.Since(start) > timeout {
				return fmt.Errorf("container not healthy after %s (status %s)%s", timeout, status, lastProbe(st.Health))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for container: %w", ctx.Err())
		case <-tick.C:
		case err := <-probed:
			probed = nil
			switch {
			case err == nil:
				started = true
			case errors.Is(err, errProbeUnsupported):
				probe = false
			default:
				return fmt.Errorf("waiting for the processes to start: %w", err)
			}
		}
	}
}

// runsNDInit reports whether the container's PID 1 is the manifest's
// nd-init, the only one that can answer probe-ready.
func runsNDInit(m *manifest.Manifest) bool {
	return m != nil && m.Init != "" && len(m.Entrypoint) > 0 &&
		m.Entrypoint[0] == path.Join(m.Init, "bin", "nd-init")
}

// readyPoll is how often waitReady inspects a starting container, and how
// often it asks an nd-init that cannot wait (probe-ready without -wait).
const readyPoll = 100 * time.Millisecond

// probeWait is how long one probe-ready -wait exec waits for the ready
// file before it is asked again.
const probeWait = 2 * time.Second

var errProbeUnsupported = errors.New("nd-init has no probe-ready")

// awaitProcesses returns when the nd-init in container id says its
// processes have started (nil), cannot say (errProbeUnsupported), or ctx
// ends. Execs that fail (the container stopping, dockerd busy) are asked
// again: the container's own state is waitReady's business.
func (r *Runtime) awaitProcesses(ctx context.Context, id, init string) error {
	wait := true
	for ctx.Err() == nil {
		ok, err := r.probeReady(ctx, id, init, wait)
		switch {
		case ok:
			return nil
		case errors.Is(err, errProbeUnsupported) && wait:
			wait = false // an nd-init from before probe-ready -wait
			continue
		case errors.Is(err, errProbeUnsupported):
			return err
		case err != nil:
			r.log.Debug("probing readiness", "container", id, "error", err)
		case wait:
			continue // waited probeWait in the container
		}
		select {
		case <-ctx.Done():
		case <-time.After(readyPoll):
		}
	}
	return ctx.Err()
}

// probeReady asks the nd-init in container id whether the processes have
// started (with wait, waiting up to probeWait for it): nd-init probe-ready
// prints "ready" (status 0) or "starting" (status 1). An exec that did not
// run says neither and is asked again; status 2 means an nd-init without
// the probe (or, with wait, without -wait).
func (r *Runtime) probeReady(ctx context.Context, id, init string, wait bool) (bool, error) {
	cmd := []string{path.Join(init, "bin", "nd-init"), "probe-ready"}
	if wait {
		cmd = append(cmd, "-wait", probeWait.String())
	}
	ex, err := r.c.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return false, err
	}
	hj, err := r.c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return false, err
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, io.Discard, io.LimitReader(hj.Reader, 4096))
	hj.Close()
	if err != nil {
		return false, err
	}
	ins, err := r.c.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return false, err
	}
	switch word := strings.TrimSpace(out.String()); {
	case ins.Running:
		return false, nil
	case ins.ExitCode == 0 && word == "ready":
		return true, nil
	case ins.ExitCode == 1 && word == "starting":
		return false, nil
	case ins.ExitCode == 2:
		// An nd-init from before probe-ready took it for a processes file.
		// (126 and 127 are not this: an exec also fails so while the
		// container is stopping, which is exactly when it must not pass.)
		return false, fmt.Errorf("%w (exit status %d)", errProbeUnsupported, ins.ExitCode)
	}
	return false, fmt.Errorf("probe-ready exited %d saying %q", ins.ExitCode, out.String())
}

// hasHealthcheck reports whether a container (with its image's settings
// merged in, as inspect shows them) has a healthcheck.
func hasHealthcheck(c *container.Config) bool {
	return c != nil && c.Healthcheck != nil && len(c.Healthcheck.Test) > 0 && c.Healthcheck.Test[0] != "NONE"
}

func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	l := h.Log[len(h.Log)-1]
	out := strings.TrimSpace(l.Output)
	if len(out) > 500 {
		out = out[len(out)-500:]
	}
	return fmt.Sprintf(": last probe exited %d: %q", l.ExitCode, out)
}

func healthTimeout(spec deployspec.Spec) time.Duration {
	if spec.HealthTimeout > 0 {
		return spec.HealthTimeout
	}
	t := DefaultHealthTimeout
	if h := spec.Manifest.Healthcheck; h != nil {
		interval, to := h.Interval, h.Timeout
		if interval == 0 {
			interval = 30
		}
		if to == 0 {
			to = 30
		}
		retries := h.Retries
		if retries == 0 {
			retries = 3
		}
		d := time.Duration(h.StartPeriod+(interval+to)*(retries+1)) * time.Second
		if d > t {
			t = d
		}
	}
	return t
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

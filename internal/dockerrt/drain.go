package dockerrt

import (
	"context"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// drains are the old containers this process is draining in the
// background, one per app at most: an overlap deploy replies at the switch,
// and the old container keeps its established connections for the drain
// time after that. Whatever touches the app's containers next (a deploy,
// a rollback, rm) ends the drain first, so that it never races the
// goroutine; an agent that dies mid-drain leaves nd.prev-<app>, which the
// next agent stops and removes when it starts (KeepPorts) and any deploy
// removes (tidy).
type drains struct {
	mu   sync.Mutex
	jobs map[string]*drainJob
}

type drainJob struct {
	cancel context.CancelFunc // ends the wait: the stop begins now
	done   chan struct{}      // closed when the container is stopped and removed
}

// startDrain drains old, app's replaced container, for d in the background,
// then stops and removes it. The caller holds the app's lock and has ended
// any earlier drain of it (endDrain).
func (r *Runtime) startDrain(app string, old *container.InspectResponse, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	job := &drainJob{cancel: cancel, done: make(chan struct{})}
	r.drains.mu.Lock()
	if r.drains.jobs == nil {
		r.drains.jobs = map[string]*drainJob{}
	}
	r.drains.jobs[app] = job
	r.drains.mu.Unlock()
	go func() {
		defer close(job.done)
		defer cancel()
		r.drain(ctx, old, d)
		r.drains.mu.Lock()
		if r.drains.jobs[app] == job {
			delete(r.drains.jobs, app)
		}
		r.drains.mu.Unlock()
	}()
}

// endDrain cuts short app's drain, if one runs: the old container is
// stopped (with its stop grace) and removed before it returns, or when ctx
// ends, whichever is first.
func (r *Runtime) endDrain(ctx context.Context, app string) error {
	r.drains.mu.Lock()
	job := r.drains.jobs[app]
	r.drains.mu.Unlock()
	if job == nil {
		return nil
	}
	r.log.Info("ending the drain of the replaced container now", "app", app)
	job.cancel()
	select {
	case <-job.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitDrain waits until app's drain, if one runs, has ended (the old
// container is gone), or ctx has.
func (r *Runtime) WaitDrain(ctx context.Context, app string) error {
	r.drains.mu.Lock()
	job := r.drains.jobs[app]
	r.drains.mu.Unlock()
	if job == nil {
		return nil
	}
	select {
	case <-job.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitDrains waits until every drain this runtime started has ended, or
// ctx has. For a clean shutdown, and for tests.
func (r *Runtime) WaitDrains(ctx context.Context) error {
	r.drains.mu.Lock()
	jobs := make([]*drainJob, 0, len(r.drains.jobs))
	for _, j := range r.drains.jobs {
		jobs = append(jobs, j)
	}
	r.drains.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// drain lets the old container finish its established connections for d
// (or until ctx ends), then stops and removes it. Failures only log: the
// deploy has worked, and a left-over nd.prev-<app> is removed by the next
// deploy or agent start.
func (r *Runtime) drain(ctx context.Context, old *container.InspectResponse, d time.Duration) {
	id := old.ID
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := r.c.ContainerStop(ctx, id, container.StopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Warn("stopping drained container", "container", id[:12], "error", err)
	}
	r.forgetUDP(ctx, old)
	if err := r.c.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Warn("removing drained container", "container", id[:12], "error", err)
	}
}

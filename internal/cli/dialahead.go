package cli

import "context"

// dialed is one host's connection, made while the package builds, and
// its agent's info asked (the client keeps it).
type dialed struct {
	done chan struct{}
	h    *host
	err  error // connecting or asking
}

// dialAhead connects to every host, and asks each one's agent what it is,
// while the package builds. Neither changes anything on a host (nd-push's
// rule is that a bad config touches none): the build's failure closes the
// connections unused, and a host's failure to connect is reported after a
// good build, as before. What it saves is an update's: the evaluation of an
// already-built config (0.1-0.2 s) and the SSH handshake with the first
// request (0.15-0.3 s) overlap instead of adding up.
func (r *pushRun) dialAhead(ctx context.Context) []*dialed {
	ds := make([]*dialed, len(r.o.Hosts))
	for i, target := range r.o.Hosts {
		d := &dialed{done: make(chan struct{})}
		ds[i] = d
		go func() {
			defer close(d.done)
			d.h, d.err = connect(ctx, r.env, &r.o.ssh, target)
			if d.err == nil {
				_, d.err = d.h.agent.Info(ctx)
			}
		}()
	}
	return ds
}

// closeDialed waits for the connections dialAhead makes and closes them:
// the run ends before it uses them.
func closeDialed(ds []*dialed) {
	for _, d := range ds {
		<-d.done
		if d.h != nil {
			d.h.Close()
		}
	}
}

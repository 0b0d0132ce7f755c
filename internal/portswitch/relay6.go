package portswitch

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Relay6 accepts IPv6 clients of published TCP ports that no IPv6 rule
// routes (the container has no IPv6 address: Docker without ipv6, its
// default) and relays each connection to the same port on 127.0.0.1,
// whose IPv4 rule leads to the app's live container. Docker's userland
// proxy did the same for the ports it published, so a client that reaches
// the host over IPv6 keeps reaching the app; as with that proxy, the app
// sees such connections come from the host. A relayed connection stays
// with the container it reached, like a routed one, and a deploy's switch
// sends the next ones to the new container. UDP is not relayed.
type Relay6 struct {
	log hclog.Logger
	// dialTimeout bounds the connection to the IPv4 route.
	dialTimeout time.Duration

	mu    sync.Mutex
	ports map[int]*relayPort // by host port
}

type relayPort struct {
	app string
	l   net.Listener
}

// NewRelay6 makes a Relay6 logging to log (nil: nothing).
func NewRelay6(log hclog.Logger) *Relay6 {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Relay6{log: log.Named("relay6"), dialTimeout: 5 * time.Second, ports: map[int]*relayPort{}}
}

// Set makes the relay accept IPv6 clients of exactly these host ports of
// app, closing the listeners of app's other ports. A port whose [::]
// address a program on the host holds is left to it, with a warning: the
// app still serves IPv4 there.
func (r *Relay6) Set(app string, ports []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, rp := range r.ports {
		if rp.app == app && !slices.Contains(ports, p) {
			rp.l.Close()
			delete(r.ports, p)
		}
	}
	for _, p := range ports {
		if rp, ok := r.ports[p]; ok {
			if rp.app == app {
				continue
			}
			// Another app's: a deploy is refused a port another app
			// routes, so that app no longer has it and this is stale.
			rp.l.Close()
			delete(r.ports, p)
		}
		l, err := net.Listen("tcp6", net.JoinHostPort("::", strconv.Itoa(p)))
		if err != nil {
			r.log.Warn("IPv6 clients of this port are not relayed to the app", "app", app, "port", p, "error", err)
			continue
		}
		r.log.Debug("relaying IPv6 clients to the IPv4 route", "app", app, "port", p)
		r.ports[p] = &relayPort{app: app, l: l}
		go r.serve(l, p)
	}
}

// Holds reports whether the relay listens on host port p for app.
func (r *Relay6) Holds(app string, p int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.ports[p]
	return ok && rp.app == app
}

func (r *Relay6) serve(l net.Listener, port int) {
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			r.log.Warn("accepting an IPv6 client", "port", port, "error", err)
			time.Sleep(100 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		go r.relay(c, target)
	}
}

// relay copies between client c and a new connection to target until both
// directions are done, passing half-closes on.
func (r *Relay6) relay(c net.Conn, target string) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), r.dialTimeout)
	up, err := (&net.Dialer{}).DialContext(ctx, "tcp4", target)
	cancel()
	if err != nil {
		r.log.Debug("relaying an IPv6 client", "to", target, "error", err)
		return
	}
	defer up.Close()
	Pipe(c.(*net.TCPConn), up.(*net.TCPConn))
}

// Pipe copies between a and b, both ways, until both directions are done,
// passing each end's half-close on to the other. The caller closes them.
func Pipe(a, b *net.TCPConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(b, a)
		b.CloseWrite()
	}()
	io.Copy(a, b)
	a.CloseWrite()
	<-done
}

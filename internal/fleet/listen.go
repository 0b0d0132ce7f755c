package fleet

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Listen opens a listener in the droplet's network namespace from the calling
// process (e.g. Listen("tcp", ":5000") is reachable at d.Addr:5000), for
// tests that need an in-droplet endpoint they control.
func (d *Droplet) Listen(network, address string) (net.Listener, error) {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", d.holder.PID))
	if err != nil {
		return nil, fmt.Errorf("listening in droplet %s: %w", d.Name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("listening in droplet %s: %w", d.Name, err)
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("listening in droplet %s: entering netns: %w", d.Name, err)
	}
	l, lerr := net.Listen(network, address)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime discards it when this
		// goroutine ends, so no other goroutine runs in the droplet's netns.
		if l != nil {
			l.Close()
		}
		return nil, fmt.Errorf("listening in droplet %s: leaving netns: %w", d.Name, err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		return nil, fmt.Errorf("listening in droplet %s: %w", d.Name, lerr)
	}
	return l, nil
}

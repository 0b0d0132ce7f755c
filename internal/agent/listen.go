package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
)

// Listen makes the agent's socket: its directory is created (or fixed) as
// root-only 0700 and the socket is 0600, unless group is set, in which case
// members of group may connect (directory 0750, socket 0660). A stale
// socket from a previous run is replaced.
func Listen(socket, group string) (net.Listener, error) {
	dir := filepath.Dir(socket)
	dirMode, sockMode := os.FileMode(0o700), os.FileMode(0o600)
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", socket, err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("listening on %s: group %s: %w", socket, group, err)
		}
		dirMode, sockMode = 0o750, 0o660
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	if err := os.Chown(dir, os.Getuid(), gid); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	if c, err := net.Dial("unix", socket); err == nil {
		c.Close()
		return nil, fmt.Errorf("listening on %s: another nd-agent is serving it", socket)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listening on %s: removing stale socket: %w", socket, err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	if err := os.Chmod(socket, sockMode); err != nil {
		l.Close()
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	if gid >= 0 {
		if err := os.Chown(socket, os.Getuid(), gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("listening on %s: %w", socket, err)
		}
	}
	return l, nil
}

// DialStdio connects stdin/stdout to the agent's socket, for SSH servers
// that do not forward unix sockets (`ssh host nd-agent dial-stdio`). The
// end of stdin half-closes the socket; the agent closing it ends the copy.
func DialStdio(ctx context.Context, socket string, stdin io.Reader, stdout io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("dialing nd-agent at %s: %w", socket, err)
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	stop := context.AfterFunc(ctx, func() { uc.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(uc, stdin)
		uc.CloseWrite()
	}()
	_, err = io.Copy(stdout, uc)
	// The agent is done with the stream; stdin may stay open forever, so do
	// not wait for the copy from it.
	if err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("copying from nd-agent: %w", err)
	}
	return nil
}

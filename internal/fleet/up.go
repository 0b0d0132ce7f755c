package fleet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Bring-up time limits; generous because 2 shared cores may be busy.
const (
	holderTimeout = 20 * time.Second
	readyTimeout  = 90 * time.Second
)

// bringUp creates the droplet allocated as s: link, namespaces, dockerd, sshd
// (bookworm) or a booted systemd that runs them (modern).
func bringUp(ctx context.Context, s *state, opts Options) (*Droplet, error) {
	if s.Kind == Modern {
		return bringUpModern(ctx, s, opts)
	}
	hostKey, err := writeFiles(s, !opts.NoStreamLocalForwarding)
	if err != nil {
		return nil, fmt.Errorf("preparing droplet %s: %w", s.Name, err)
	}
	if err := setupLink(ctx, s, opts.Rate); err != nil {
		return nil, fmt.Errorf("creating network of droplet %s: %w", s.Name, err)
	}
	if err := startHolder(ctx, s); err != nil {
		return nil, fmt.Errorf("creating mount namespace of droplet %s: %w", s.Name, err)
	}
	d := newDroplet(s)
	d.hostKey = hostKey
	if s.Docker {
		if err := d.startDockerd(ctx); err != nil {
			return nil, err
		}
	}
	if err := d.Start(ctx, "sshd", "/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(d.stateDir, fileSSHDConfig)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := waitSSH(ctx, d.Addr); err != nil {
		return nil, fmt.Errorf("waiting for sshd of droplet %s (log %s): %w", s.Name, d.LogFile("sshd"), err)
	}
	if s.Docker {
		if err := waitDocker(ctx, d); err != nil {
			return nil, fmt.Errorf("waiting for dockerd of droplet %s (log %s): %w", s.Name, d.LogFile("dockerd"), err)
		}
	}
	if err := updateState(s.Name, func(st *state) { st.Ready = true }); err != nil {
		return nil, err
	}
	return d, nil
}

func setupLink(ctx context.Context, s *state, rate string) error {
	outer, inner := addrs(s.Index)
	ns := netnsName(s.Name)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", outerIf(s.Index), "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "addr", "add", outer.String() + "/30", "dev", outerIf(s.Index)},
		{"ip", "link", "set", outerIf(s.Index), "up"},
		{"nsenter", "--net=/run/netns/" + ns, "ip", "-batch", "-"},
	}
	batch := fmt.Sprintf("link set lo up\naddr add %s/30 dev eth0\nlink set eth0 up\nroute add default via %s\n", inner, outer)
	for _, argv := range steps {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if argv[0] == "nsenter" {
			cmd.Stdin = strings.NewReader(batch)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	if rate != "" {
		return shape(ctx, outerIf(s.Index), rate)
	}
	return nil
}

// shape sets (or, with rate "", removes) tbf on the caller's end of the link,
// which limits traffic from the caller to the droplet.
func shape(ctx context.Context, dev, rate string) error {
	argv := []string{"tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "50ms"}
	if rate == "" {
		argv = []string{"tc", "qdisc", "del", "dev", dev, "root"}
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil && !(rate == "" && strings.Contains(string(out), "Cannot delete qdisc with handle of zero")) {
		return fmt.Errorf("shaping %s: %s: %w: %s", dev, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startHolder starts the long-lived process that owns the droplet's mount
// namespace and waits until its script has set up the file system.
func startHolder(ctx context.Context, s *state) error {
	sd := stateDir(s.Name)
	logf, err := os.OpenFile(filepath.Join(sd, dirLogs, "holder.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command("nsenter", "--net=/run/netns/"+netnsName(s.Name),
		"unshare", "--mount", "--propagation", "private", "/bin/sh", filepath.Join(sd, fileHolder))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting holder: %w", err)
	}
	w.Close()
	go cmd.Wait()
	holder := procFor(cmd.Process.Pid, "holder")
	if err := updateState(s.Name, func(st *state) { st.Holder = holder }); err != nil {
		return err
	}
	s.Holder = holder

	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(r).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "ready" {
			log, _ := os.ReadFile(filepath.Join(sd, dirLogs, "holder.log"))
			return fmt.Errorf("holder script failed: %s", strings.TrimSpace(string(log)))
		}
	case <-time.After(holderTimeout):
		return fmt.Errorf("holder not ready after %s", holderTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := releaseDisk(s.Name); err != nil {
		return err
	}
	netID, mntID := nsID(holder.PID, "net"), nsID(holder.PID, "mnt")
	if netID == "" || mntID == "" || mntID == nsID(os.Getpid(), "mnt") {
		return fmt.Errorf("holder %d has no namespaces of its own (net %q, mnt %q)", holder.PID, netID, mntID)
	}
	s.NetNS, s.MntNS = netID, mntID
	return updateState(s.Name, func(st *state) { st.NetNS, st.MntNS = netID, mntID })
}

// waitSSH waits until something on addr:22 greets with an SSH banner.
func waitSSH(ctx context.Context, addr string) error {
	var last error
	for {
		last = sshBanner(ctx, addr)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func sshBanner(ctx context.Context, addr string) error {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", net.JoinHostPort(addr, "22"))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "SSH-2.0") {
		return fmt.Errorf("unexpected banner %q", l)
	}
	return nil
}

// waitDocker waits until the droplet's dockerd answers /_ping, talking to its
// socket through the holder's root (/proc/PID/root/run/docker.sock).
func waitDocker(ctx context.Context, d *Droplet) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.DockerSocketOutside())
		},
	}}
	defer client.CloseIdleConnections()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://docker/_ping", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("ping: %s", resp.Status)
		}
		last = err
		if st, _ := readState(d.Name); st != nil {
			for _, p := range st.Procs {
				if p.Name == "dockerd" && !p.alive() {
					return fmt.Errorf("dockerd exited")
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

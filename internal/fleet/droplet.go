package fleet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Droplet is one simulated droplet. Its exported fields are fixed for its life.
type Droplet struct {
	// Name identifies the droplet (also the Host alias in its ssh_config).
	Name string
	// Addr is the droplet's address; its sshd listens on Addr:22.
	Addr string
	// HostAddr is the caller's address on the link (the droplet's default
	// gateway); a listener on it is reachable from inside the droplet.
	HostAddr string
	// HasNix says whether the droplet has its own Nix store at /nix.
	HasNix bool
	// HasDocker says whether the droplet runs dockerd on /run/docker.sock.
	HasDocker bool
	// Kind is Bookworm or Modern.
	Kind Kind
	// ContainerdStore says whether the droplet's dockerd uses the
	// containerd image store (modern droplets only).
	ContainerdStore bool
	// NixLayout is where a modern droplet's Nix lives ("" without Nix and
	// on bookworm droplets).
	NixLayout NixLayout

	index    int
	holder   proc
	stateDir string
	hostKey  ssh.PublicKey
}

func newDroplet(s *state) *Droplet {
	outer, inner := addrs(s.Index)
	return &Droplet{
		Name: s.Name, Addr: inner.String(), HostAddr: outer.String(),
		HasNix: s.Nix, HasDocker: s.Docker,
		Kind: s.kind(), ContainerdStore: s.ContainerdStore, NixLayout: s.NixLayout,
		index: s.Index, holder: s.Holder, stateDir: stateDir(s.Name),
	}
}

// Load returns the running droplet called name (started by any process).
func Load(name string) (*Droplet, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("loading droplet: bad name %q", name)
	}
	s, err := readState(name)
	if err != nil {
		return nil, fmt.Errorf("loading droplet %s: %w", name, err)
	}
	if !s.Holder.alive() {
		return nil, fmt.Errorf("loading droplet %s: its holder process is gone (nd-fleet down %s)", name, name)
	}
	return newDroplet(s), nil
}

// StateDir is the droplet's state directory on the caller's side; the same
// path is visible inside the droplet.
func (d *Droplet) StateDir() string { return d.stateDir }

// SSHConfig is the path of an ssh_config file with a Host entry for the
// droplet (Host NAME and ADDR: HostName, User root, IdentityFile,
// UserKnownHostsFile holding its host key, StrictHostKeyChecking yes,
// BatchMode yes). Use: ssh -F $(SSHConfig) NAME.
func (d *Droplet) SSHConfig() string { return filepath.Join(d.stateDir, fileSSHConfig) }

// KnownHostsFile holds the droplet's host key for "ADDR,NAME".
func (d *Droplet) KnownHostsFile() string { return filepath.Join(d.stateDir, fileKnownHosts) }

// ClientKeyFile is the unencrypted ed25519 private key that sshd accepts for
// root (its public half is ClientKeyFile()+".pub").
func (d *Droplet) ClientKeyFile() string { return filepath.Join(d.stateDir, fileClientKey) }

// HostKey returns the droplet's sshd host key.
func (d *Droplet) HostKey() ssh.PublicKey {
	if d.hostKey == nil {
		b, err := os.ReadFile(filepath.Join(d.stateDir, fileHostKey+".pub"))
		if err != nil {
			return nil
		}
		d.hostKey, _, _, _, _ = ssh.ParseAuthorizedKey(b)
	}
	return d.hostKey
}

// HostKeyLine returns the host key as a known_hosts line ("ADDR,NAME TYPE KEY").
func (d *Droplet) HostKeyLine() string {
	b, _ := os.ReadFile(d.KnownHostsFile())
	return strings.TrimSpace(string(b))
}

// DockerSocket is the droplet's docker socket as seen inside the droplet.
func (d *Droplet) DockerSocket() string { return DockerSocket }

// DockerSocketOutside is a path of the droplet's docker socket that works
// from the caller's namespaces (through the holder's /proc root), e.g. for
// client.WithHost("unix://" + d.DockerSocketOutside()).
func (d *Droplet) DockerSocketOutside() string { return d.Path(DockerSocket) }

// Path maps a path inside the droplet to one the caller can open
// (/proc/PID/root/PATH, PID being HolderPID). Reading droplet files this way
// is for checks in tests; the code under test should go through SSH. Paths
// of a modern droplet change when it reboots.
func (d *Droplet) Path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", d.nsProc().PID, filepath.Join("/", p))
}

// CopyIn copies the file src of the caller into the droplet at dst (parent
// directories are created), keeping src's permission bits — e.g. a test
// binary built on the caller's side, which the droplet cannot see in the
// caller's /tmp. Writes below /etc, /root, /usr/local, /opt and /srv land in
// the droplet's own overlay, never on the machine.
func (d *Droplet) CopyIn(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying %s into droplet %s: %w", src, d.Name, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copying %s into droplet %s: %w", src, d.Name, err)
	}
	p := d.Path(dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("copying %s into droplet %s: %w", src, d.Name, err)
	}
	tmp := p + ".nd-fleet-tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("copying %s into droplet %s: %w", src, d.Name, err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, st.Mode().Perm())
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copying %s into droplet %s at %s: %w", src, d.Name, dst, err)
	}
	return nil
}

// HolderPID is the PID of a process in the droplet's namespaces: the holder
// of a bookworm droplet (nsenter --target PID --mount --net enters it), the
// current PID 1 (systemd) of a modern one (nsenter --target PID --all).
func (d *Droplet) HolderPID() int { return d.nsProc().PID }

// LogFile is where the output of the background process name goes
// (Start(ctx, name, ...)); a bookworm droplet's dockerd and sshd log to
// LogFile("dockerd") and LogFile("sshd"), a modern droplet's units to its
// journal and its console to LogFile("console").
func (d *Droplet) LogFile(name string) string {
	return filepath.Join(d.stateDir, dirLogs, name+".log")
}

func (d *Droplet) enter(argv []string) []string {
	pid := strconv.Itoa(d.nsProc().PID)
	if d.Kind == Modern {
		// Its own PID namespace too, so the droplet's ps and systemctl see
		// the process and a reboot ends it.
		return append([]string{"nsenter", "--target", pid, "--mount", "--net", "--pid", "--uts", "--ipc", "--wd=/", "--"}, argv...)
	}
	return append([]string{"nsenter", "--target", pid, "--mount", "--net", "--wd=/", "--"}, argv...)
}

// Command returns a command that runs argv inside the droplet (its mount and
// network namespaces, and a modern droplet's PID, UTS and IPC ones; cwd /,
// the caller's environment and credentials; not a systemd unit). The caller
// wires stdin/stdout and runs it.
func (d *Droplet) Command(ctx context.Context, argv ...string) *exec.Cmd {
	a := d.enter(argv)
	return exec.CommandContext(ctx, a[0], a[1:]...)
}

// Exec runs argv inside the droplet and returns its standard output; a
// failure's error carries its standard error.
func (d *Droplet) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec in droplet %s: empty command", d.Name)
	}
	cmd := d.Command(ctx, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("running %q in droplet %s: %w: %s", strings.Join(argv, " "), d.Name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

var procNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// Start runs argv in the background inside the droplet, in its own session,
// with stdin /dev/null and stdout+stderr appended to LogFile(name). The process
// is not tied to ctx: it runs until Stop(name) or the droplet's teardown.
// name must be unique among the droplet's running background processes
// ("dockerd" and "sshd" are the droplet's own).
func (d *Droplet) Start(ctx context.Context, name string, argv ...string) error {
	if !procNameRE.MatchString(name) || len(argv) == 0 {
		return fmt.Errorf("starting %q in droplet %s: bad name or empty command", name, d.Name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	logf, err := os.OpenFile(d.LogFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting %s in droplet %s: %w", name, d.Name, err)
	}
	defer logf.Close()
	unlock, err := lockDroplet(d.Name)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := readState(d.Name)
	if err != nil {
		return fmt.Errorf("starting %s in droplet %s: droplet is gone: %w", name, d.Name, err)
	}
	for _, p := range s.Procs {
		if p.Name == name && p.alive() {
			return fmt.Errorf("starting %s in droplet %s: already running as pid %d", name, d.Name, p.PID)
		}
	}
	var p proc
	if d.Kind == Modern {
		p, err = d.startDetached(ctx, name, argv, logf)
		if err != nil {
			return fmt.Errorf("starting %s in droplet %s: %w", name, d.Name, err)
		}
	} else {
		a := d.enter(argv)
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s in droplet %s: %w", name, d.Name, err)
		}
		p = procFor(cmd.Process.Pid, name)
		go cmd.Wait() // reap; the process outlives nothing of ours but this goroutine
	}
	kept := s.Procs[:0]
	for _, q := range s.Procs {
		if q.Name != name {
			kept = append(kept, q)
		}
	}
	s.Procs = append(kept, p)
	return writeState(s)
}

// Stop ends the background process name: SIGTERM, then SIGKILL after 10s.
func (d *Droplet) Stop(ctx context.Context, name string) error {
	if units := d.ownUnits(name); units != nil {
		_, err := d.Systemctl(ctx, append([]string{"stop"}, units...)...)
		return err
	}
	s, err := readState(d.Name)
	if err != nil {
		return fmt.Errorf("stopping %s in droplet %s: %w", name, d.Name, err)
	}
	for _, p := range s.Procs {
		if p.Name == name {
			p.signal(syscall.SIGTERM)
			if !waitGone(ctx, []proc{p}, 10*time.Second) {
				p.signal(syscall.SIGKILL)
				waitGone(ctx, []proc{p}, 5*time.Second)
			}
			return nil
		}
	}
	return fmt.Errorf("stopping %s in droplet %s: no such process", name, d.Name)
}

// Running reports whether the background process name is alive.
func (d *Droplet) Running(name string) bool {
	if units := d.ownUnits(name); units != nil {
		_, err := d.Systemctl(context.Background(), "is-active", "--quiet", units[len(units)-1])
		return err == nil
	}
	s, err := readState(d.Name)
	if err != nil {
		return false
	}
	for _, p := range s.Procs {
		if p.Name == name {
			return p.alive()
		}
	}
	return false
}

// Shape limits the caller→droplet direction of the link to rate (tc syntax,
// e.g. "200mbit") with tbf; rate "" removes the limit.
func (d *Droplet) Shape(ctx context.Context, rate string) error {
	return shape(ctx, outerIf(d.index), rate)
}

// waitGone waits until none of ps is alive; it reports whether that happened
// within limit.
func waitGone(ctx context.Context, ps []proc, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		any := false
		for _, p := range ps {
			if p.alive() {
				any = true
				break
			}
		}
		if !any {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RestartDocker stops the droplet's dockerd (which stops every container,
// as a shutdown does) and starts it again, as the droplet's boot would: what
// comes back by itself is what survives a reboot. On a modern droplet it is
// systemctl restart docker.
func (d *Droplet) RestartDocker(ctx context.Context) error {
	if !d.HasDocker {
		return fmt.Errorf("droplet %s has no dockerd", d.Name)
	}
	if d.Kind == Modern {
		if _, err := d.Systemctl(ctx, "restart", "docker.service"); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := waitDocker(ctx, d); err != nil {
			return fmt.Errorf("waiting for dockerd of droplet %s: %w\n%s", d.Name, err, d.journalTail(ctx, "docker.service"))
		}
		return nil
	}
	if err := d.Stop(ctx, "dockerd"); err != nil {
		return err
	}
	if err := d.startDockerd(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := waitDocker(ctx, d); err != nil {
		return fmt.Errorf("waiting for dockerd of droplet %s (log %s): %w", d.Name, d.LogFile("dockerd"), err)
	}
	return nil
}

// startDockerd starts the droplet's own dockerd (its daemon.json holds the
// data root, exec root, socket and pid file inside the droplet).
func (d *Droplet) startDockerd(ctx context.Context) error {
	return d.Start(ctx, "dockerd", "dockerd", "--config-file", filepath.Join(d.stateDir, fileDaemonJSON))
}

// PID is the process ID of the droplet's background process name (a
// bookworm droplet's "dockerd", "sshd" or one Start ran), as this
// machine's /proc sees it, for reading its resource use.
func (d *Droplet) PID(name string) (int, error) {
	s, err := readState(d.Name)
	if err != nil {
		return 0, fmt.Errorf("looking up %s in droplet %s: %w", name, d.Name, err)
	}
	for _, p := range s.Procs {
		if p.Name == name && p.alive() {
			return p.PID, nil
		}
	}
	return 0, fmt.Errorf("looking up %s in droplet %s: not running", name, d.Name)
}

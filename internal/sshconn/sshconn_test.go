package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestIdentityFileAuth(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := newTestHome(t, d)

	// A second key, authorized too, only reachable with -i.
	other := filepath.Join(t.TempDir(), "deploy-key")
	d.authorize(t, writePrivateKey(t, other, newEd25519(t), ""))
	// A key the server does not know, to show -i keys are tried first and a
	// refused key does not stop the others.
	stranger := filepath.Join(t.TempDir(), "stranger")
	writePrivateKey(t, stranger, newEd25519(t), "")

	tests := []struct {
		name   string
		target string
		opts   Options
	}{
		{"default id_ed25519 and $USER", "127.0.0.1:" + fmt.Sprint(d.Port), Options{HomeDir: home.Dir}},
		{"-i file", "root@127.0.0.1", Options{HomeDir: home.Dir, Port: d.Port, IdentityFiles: []string{other}}},
		{"-i unknown then default via IdentityFile", "root@127.0.0.1", Options{HomeDir: home.Dir, Port: d.Port,
			IdentityFiles: []string{stranger, "~/.ssh/id_ed25519"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialT(t, tt.target, tt.opts)
			if got := runT(t, c, "echo hi; whoami"); got != "hi\nroot\n" {
				t.Errorf("Run = %q, want %q", got, "hi\nroot\n")
			}
		})
	}

	t.Run("only -i, which the server refuses", func(t *testing.T) {
		_, err := Dial(context.Background(), "root@127.0.0.1", Options{HomeDir: home.Dir, Port: d.Port, IdentityFiles: []string{stranger}})
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("Dial = %v, want *AuthError", err)
		}
		if !strings.Contains(err.Error(), stranger) || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("error %q does not name the key tried and the host", err)
		}
	})
}

func TestRunFailure(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := newTestHome(t, d)
	c := dialT(t, d.addr(), Options{HomeDir: home.Dir})

	out, err := c.Run(context.Background(), "echo partial; echo something broke >&2; exit 3")
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("Run = %v, want *CommandError", err)
	}
	if ce.ExitStatus != 3 || string(out) != "partial\n" {
		t.Errorf("ExitStatus, stdout = %d, %q; want 3, %q", ce.ExitStatus, out, "partial\n")
	}
	for _, want := range []string{"exit status 3", "something broke", "127.0.0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// A cancelled context ends a long command promptly.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Run(ctx, "sleep 30")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Run(sleep 30) with 300ms context = %v after %s", err, time.Since(start))
	}
	// The connection is still usable afterwards.
	if got := runT(t, c, "echo ok"); got != "ok\n" {
		t.Errorf("Run after cancel = %q", got)
	}
}

// serveAgent serves keyring over the real agent protocol on a unix socket
// and points SSH_AUTH_SOCK at it.
func serveAgent(t *testing.T, keyring agent.Agent) {
	t.Helper()
	t.Setenv("SSH_AUTH_SOCK", serveUnix(t, "agent.sock", func(c net.Conn) { agent.ServeAgent(keyring, c) }))
}

// serveUnix serves each connection to a new unix socket with handle (the
// connection is closed after it) until the test ends, and returns its path.
func serveUnix(t *testing.T, name string, handle func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), name)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return sock
}

func TestAgentAuth(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), d.knownHostsLine(0)+"\n")

	key := newEd25519(t)
	// The identity file is encrypted: usable only through the agent.
	idFile := filepath.Join(home, ".ssh", "id_ed25519")
	pub := writePrivateKey(t, idFile, key, "secret passphrase")
	d.authorize(t, pub)

	t.Run("encrypted key, no agent", func(t *testing.T) {
		_, err := Dial(context.Background(), d.addr(), Options{HomeDir: home})
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("Dial = %v, want *AuthError", err)
		}
		if len(ae.Encrypted) != 1 || ae.Encrypted[0] != idFile {
			t.Errorf("AuthError.Encrypted = %q, want [%q]", ae.Encrypted, idFile)
		}
		t.Logf("the user sees:\n%v", err)
		if !strings.Contains(err.Error(), "encrypted") || !strings.Contains(err.Error(), "ssh-add") {
			t.Errorf("error %q does not explain the encrypted key", err)
		}
	})

	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	serveAgent(t, keyring)

	t.Run("agent holds the encrypted key", func(t *testing.T) {
		c := dialT(t, d.addr(), Options{HomeDir: home, Overrides: map[string]string{"IdentitiesOnly": "yes"}})
		if got := runT(t, c, "echo agent"); got != "agent\n" {
			t.Errorf("Run = %q", got)
		}
	})
	t.Run("agent key alone", func(t *testing.T) {
		empty := t.TempDir()
		writeFile(t, filepath.Join(empty, ".ssh", "known_hosts"), d.knownHostsLine(0)+"\n")
		c := dialT(t, d.addr(), Options{HomeDir: empty})
		if got := runT(t, c, "echo agent"); got != "agent\n" {
			t.Errorf("Run = %q", got)
		}
	})
	t.Run("IdentitiesOnly hides other agent keys", func(t *testing.T) {
		empty := t.TempDir()
		writeFile(t, filepath.Join(empty, ".ssh", "known_hosts"), d.knownHostsLine(0)+"\n")
		_, err := Dial(context.Background(), d.addr(), Options{HomeDir: empty, Overrides: map[string]string{"IdentitiesOnly": "yes"}})
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("Dial = %v, want *AuthError", err)
		}
	})
}

func TestConfigFile(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := t.TempDir()
	// ~/.ssh/config that would break the connection: -F must replace it.
	writeFile(t, filepath.Join(home, ".ssh", "config"), "Host *\n  Port 1\n  User nobody\n")
	// Key and known_hosts only where the -F config says.
	keyDir := filepath.Join(home, "keys")
	d.authorize(t, writePrivateKey(t, filepath.Join(keyDir, "root@droplet-1"), newEd25519(t), ""))
	writeFile(t, filepath.Join(home, "kh", "droplets"), d.knownHostsLine(0)+"\n")

	cfg := filepath.Join(t.TempDir(), "ssh_config")
	writeFile(t, cfg, fmt.Sprintf(`# nd test config
Host droplet-* !droplet-9
  HostName 127.0.0.1
  Port %d
  IdentityFile %%d/keys/%%r@%%n
  UserKnownHostsFile /nonexistent/known_hosts ~/kh/droplets
  IdentitiesOnly yes
Host droplet-9
  HostName 127.0.0.1
  Port 1
Host *
  User root
`, d.Port))

	c := dialT(t, "droplet-1", Options{HomeDir: home, ConfigFile: cfg})
	if got := runT(t, c, "echo configured"); got != "configured\n" {
		t.Errorf("Run = %q", got)
	}
	if c.Host() != "droplet-1 (127.0.0.1:"+fmt.Sprint(d.Port)+")" {
		t.Errorf("Host() = %q", c.Host())
	}

	// The negated pattern: droplet-9 gets the broken HostName.
	_, err := Dial(context.Background(), "droplet-9", Options{HomeDir: home, ConfigFile: cfg})
	if err == nil || !strings.Contains(err.Error(), "dialing droplet-9 (127.0.0.1:1)") {
		t.Errorf("Dial(droplet-9) = %v, want a dial error naming 127.0.0.1:1", err)
	}
}

func TestUnknownHostKey(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := newTestHome(t, d)
	os.Remove(home.path(".ssh/known_hosts"))

	_, err := Dial(context.Background(), d.addr(), Options{HomeDir: home.Dir})
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Unknown() {
		t.Fatalf("Dial = %v, want unknown *HostKeyError", err)
	}
	t.Logf("the user sees:\n%v", err)
	// x/crypto prefers ECDSA when nothing is known.
	fp := ssh.FingerprintSHA256(hk.Key)
	if fp != ssh.FingerprintSHA256(d.HostKeys[0]) && fp != ssh.FingerprintSHA256(d.HostKeys[1]) {
		t.Errorf("HostKeyError.Key %s is not a key of the server", fp)
	}
	for _, want := range []string{"ssh handshake with 127.0.0.1:" + fmt.Sprint(d.Port), fp, hk.Key.Type(),
		fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1", d.Port), "StrictHostKeyChecking=accept-new"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if _, err := os.Stat(home.path(".ssh/known_hosts")); !os.IsNotExist(err) {
		t.Errorf("strict checking wrote known_hosts: %v", err)
	}
}

func TestChangedHostKey(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := newTestHome(t, d)
	oldKey, err := ssh.NewPublicKey(newEd25519(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	kh := home.path(".ssh/known_hosts")
	writeFile(t, kh, "# my hosts\nexample.com "+string(ssh.MarshalAuthorizedKey(d.HostKeys[0]))+
		knownhosts.Line([]string{knownhosts.Normalize(d.addr())}, oldKey)+"\n")

	for _, strict := range []string{"yes", "accept-new"} {
		t.Run(strict, func(t *testing.T) {
			_, err := Dial(context.Background(), d.addr(), Options{HomeDir: home.Dir,
				Overrides: map[string]string{"StrictHostKeyChecking": strict}})
			var hk *HostKeyError
			if !errors.As(err, &hk) || !hk.Changed() {
				t.Fatalf("Dial = %v, want changed *HostKeyError", err)
			}
			t.Logf("the user sees:\n%v", err)
			for _, want := range []string{"REMOTE HOST IDENTIFICATION HAS CHANGED", kh + ":3",
				ssh.FingerprintSHA256(d.HostKeys[0]), ssh.FingerprintSHA256(oldKey), "127.0.0.1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%s", want, err)
				}
			}
		})
	}
}

func TestAcceptNew(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	for _, hashed := range []bool{false, true} {
		t.Run(fmt.Sprintf("hashed=%v", hashed), func(t *testing.T) {
			home := newTestHome(t, d)
			kh := home.path(".ssh/known_hosts")
			writeFile(t, kh, "# no newline at the end") // the appended line must start on its own
			// Debian's /etc/ssh/ssh_config says HashKnownHosts yes: be explicit.
			over := map[string]string{"StrictHostKeyChecking": "accept-new", "HashKnownHosts": "no"}
			if hashed {
				over["HashKnownHosts"] = "yes"
			}
			c := dialT(t, d.addr(), Options{HomeDir: home.Dir, Overrides: over})
			runT(t, c, "true")

			data, _ := os.ReadFile(kh)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 2 {
				t.Fatalf("known_hosts after accept-new:\n%s", data)
			}
			if hashed != strings.HasPrefix(lines[1], "|1|") {
				t.Errorf("added line %q, hashed=%v", lines[1], hashed)
			}
			// Now strict checking accepts the host.
			c2 := dialT(t, d.addr(), Options{HomeDir: home.Dir})
			runT(t, c2, "true")
		})
	}
}

func TestKnownHostsForms(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	name := knownhosts.Normalize(d.addr()) // [127.0.0.1]:PORT
	line := func(host string, i int) string {
		return host + " " + string(ssh.MarshalAuthorizedKey(d.HostKeys[i]))
	}
	tests := []struct {
		name, knownHosts string
	}{
		{"ed25519 only (server prefers ecdsa)", line(name, 0)},
		{"ecdsa only", line(name, 1)},
		{"hashed", line(knownhosts.HashHostname(name), 0)},
		{"pattern and marker-free list", line("other.example,[127.0.0.*]:"+fmt.Sprint(d.Port), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := newTestHome(t, d)
			writeFile(t, home.path(".ssh/known_hosts"), tt.knownHosts)
			c := dialT(t, d.addr(), Options{HomeDir: home.Dir})
			runT(t, c, "true")
		})
	}
	t.Run("HostKeyAlias", func(t *testing.T) {
		home := newTestHome(t, d)
		writeFile(t, home.path(".ssh/known_hosts"), line("my-droplet", 0))
		c := dialT(t, d.addr(), Options{HomeDir: home.Dir, Overrides: map[string]string{"HostKeyAlias": "my-droplet"}})
		runT(t, c, "true")
	})
}

func TestProxyJump(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{debugLog: true})
	home := newTestHome(t, d)
	cfg := filepath.Join(t.TempDir(), "config")
	writeFile(t, cfg, fmt.Sprintf(`Host jump target
  HostName 127.0.0.1
  Port %d
  User root
Host target
  ProxyJump jump,root@127.0.0.1:%d
`, d.Port, d.Port))
	c := dialT(t, "target", Options{HomeDir: home.Dir, ConfigFile: cfg})
	if got := runT(t, c, "echo through"); got != "through\n" {
		t.Errorf("Run = %q", got)
	}
	if c.parent == nil || c.parent.parent == nil || c.parent.parent.parent != nil {
		t.Fatalf("connection is not target <- hop 2 <- hop 1")
	}
	// sshd saw the two forwarding requests of the hops.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(d.log.String(), "server_request_direct_tcpip") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("sshd log shows %d direct-tcpip requests, want 2", strings.Count(d.log.String(), "server_request_direct_tcpip"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A hop's own host key is checked strictly too, and the error says which.
	bad := filepath.Join(t.TempDir(), "config")
	writeFile(t, bad, fmt.Sprintf(`Host jump target
  HostName 127.0.0.1
  Port %d
  User root
Host jump
  HostKeyAlias unknown-jump
Host target
  ProxyJump jump
`, d.Port))
	_, err := Dial(context.Background(), "target", Options{HomeDir: home.Dir, ConfigFile: bad})
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Unknown() || hk.Host != "jump" || !strings.Contains(err.Error(), "jump host for target") {
		t.Errorf("Dial through a jump host with an unknown key = %v", err)
	}

	// Closing the client closes the hops.
	c.Close()
	select {
	case <-c.parent.parent.Done():
	case <-time.After(5 * time.Second):
		t.Error("first hop still open after Close")
	}
}

// serveEcho serves an echo (until EOF) on a unix socket.
func serveEcho(t *testing.T) string {
	t.Helper()
	return serveUnix(t, "echo.sock", func(c net.Conn) { io.Copy(c, c) })
}

func TestDialUnix(t *testing.T) {
	isolate(t)
	sock := serveEcho(t)
	ctx := context.Background()

	t.Run("allowed", func(t *testing.T) {
		d := startSSHD(t, sshdOptions{})
		c := dialT(t, d.addr(), Options{HomeDir: newTestHome(t, d).Dir})
		for i := 0; i < 3; i++ { // several streams over the one connection
			conn, err := c.DialUnix(ctx, sock)
			if err != nil {
				t.Fatalf("DialUnix = %v", err)
			}
			cw, ok := conn.(interface{ CloseWrite() error })
			if !ok {
				t.Fatalf("%T has no CloseWrite", conn)
			}
			msg := strings.Repeat("ping ", 50000)
			go func() {
				io.WriteString(conn, msg)
				cw.CloseWrite()
			}()
			got, err := io.ReadAll(conn)
			if err != nil || string(got) != msg {
				t.Errorf("echo = %d bytes, %v; want %d bytes", len(got), err, len(msg))
			}
			conn.Close()
		}
		_, err := c.DialUnix(ctx, "/nonexistent/socket")
		if err == nil || IsForwardingRefused(err) || !strings.Contains(err.Error(), "no unix socket at /nonexistent/socket") {
			t.Errorf("DialUnix(missing socket) = %v; want a missing-socket error that is not a refusal", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		d := startSSHD(t, sshdOptions{noStreamLocal: true})
		c := dialT(t, d.addr(), Options{HomeDir: newTestHome(t, d).Dir})
		_, err := c.DialUnix(ctx, sock)
		if !IsForwardingRefused(err) {
			t.Fatalf("DialUnix = %v; want IsForwardingRefused", err)
		}
		if !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("error %q does not name socket and host", err)
		}
		// The connection survives the refusal.
		runT(t, c, "true")
	})
}

func TestCommand(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	c := dialT(t, d.addr(), Options{HomeDir: newTestHome(t, d).Dir})
	ctx := context.Background()

	st, err := c.Command(ctx, "cat; echo done >&2")
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("data ", 100000)
	go func() {
		io.WriteString(st, msg)
		st.CloseWrite()
	}()
	got, err := io.ReadAll(st)
	if err != nil || string(got) != msg {
		t.Errorf("ReadAll = %d bytes, %v; want %d bytes", len(got), err, len(msg))
	}
	if err := st.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	st.Close()

	st, err = c.Command(ctx, "cat >/dev/null; echo bad input >&2; exit 7")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(st, "x")
	st.CloseWrite()
	err = st.Wait()
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitStatus != 7 || !strings.Contains(err.Error(), "bad input") {
		t.Errorf("Wait = %v; want exit status 7 with stderr", err)
	}
	st.Close()

	// Cancelling the context ends a stream that would never finish.
	cctx, cancel := context.WithCancel(ctx)
	st, err = c.Command(cctx, "sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- st.Wait() }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait after cancel = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
}

func TestSFTP(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	c := dialT(t, d.addr(), Options{HomeDir: newTestHome(t, d).Dir})
	s, err := c.SFTP()
	if err != nil {
		t.Fatal(err)
	}
	if s2, _ := c.SFTP(); s2 != s {
		t.Error("SFTP() opened a second session")
	}
	dst := filepath.Join(t.TempDir(), "upload.bin")
	content := strings.Repeat("0123456789abcdef", 1<<16)
	f, err := s.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || string(got) != content {
		t.Errorf("uploaded file = %d bytes, %v; want %d bytes", len(got), err, len(content))
	}
}

// silentServer accepts TCP connections and never speaks, like a host whose
// sshd hangs; it needs no root.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

func TestDialCancel(t *testing.T) {
	isolate(t)
	addr := silentServer(t)
	home := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := Dial(ctx, addr, Options{HomeDir: home})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "ssh handshake with "+addr) {
		t.Errorf("Dial = %v; want context.Canceled naming the host", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Dial took %s after cancel", el)
	}

	start = time.Now()
	_, err = Dial(context.Background(), addr, Options{HomeDir: home, Overrides: map[string]string{"ConnectTimeout": "1"}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ConnectTimeout") {
		t.Errorf("Dial with ConnectTimeout 1 = %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("ConnectTimeout 1 took %s", el)
	}
}

// descendants lists the processes below pid (sshd's per-connection children).
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	children := map[int][]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		var p, ppid int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			fmt.Sscan(fields[1], &ppid)
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

func TestServerAlive(t *testing.T) {
	isolate(t)
	d := startSSHD(t, sshdOptions{})
	home := newTestHome(t, d)
	opts := Options{HomeDir: home.Dir, Overrides: map[string]string{"ServerAliveInterval": "1", "ServerAliveCountMax": "2"}}
	c := dialT(t, d.addr(), opts)

	// Keepalives answered: a command longer than the interval is fine.
	if got := runT(t, c, "sleep 3; echo alive"); got != "alive\n" {
		t.Fatalf("Run = %q", got)
	}

	// Freeze this connection's sshd processes: the server stops answering
	// without closing the TCP connection, like a droplet that died.
	procs := descendants(t, d.cmd.Process.Pid)
	if len(procs) == 0 {
		t.Fatal("no sshd connection process found")
	}
	for _, p := range procs {
		syscall.Kill(p, syscall.SIGSTOP)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			syscall.Kill(p, syscall.SIGCONT)
		}
	})
	start := time.Now()
	select {
	case <-c.Done():
		t.Logf("dead connection closed after %s", time.Since(start).Round(100*time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("connection to a frozen server still open after 10s with ServerAliveInterval 1, ServerAliveCountMax 2")
	}
	if _, err := c.Run(context.Background(), "true"); err == nil {
		t.Error("Run on a closed connection succeeded")
	}
}

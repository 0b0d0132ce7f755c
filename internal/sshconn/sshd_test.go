package sshconn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/testutil"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const sshdPath = "/usr/sbin/sshd"

// testSSHD is a real OpenSSH sshd started for one test.
type testSSHD struct {
	Port     int
	HostKeys []ssh.PublicKey // ed25519 first, then ecdsa
	AuthKeys string          // AuthorizedKeysFile; add lines with authorize
	cmd      *exec.Cmd
	log      *testutil.SyncBuffer
}

type sshdOptions struct {
	noStreamLocal bool
	debugLog      bool // LogLevel DEBUG1; sshd then also writes debug lines to sessions' stderr
}

// startSSHD runs sshd -D on 127.0.0.1 and a free port with its own host keys
// (ed25519 and ecdsa) and stops it when the test ends.
func startSSHD(t *testing.T, o sshdOptions) *testSSHD {
	t.Helper()
	testutil.RequireRoot(t)
	_, err := os.Stat(sshdPath)
	testutil.Require(t, err == nil, "needs "+sshdPath+" (apt-get install openssh-server)")
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := &testSSHD{AuthKeys: filepath.Join(dir, "authorized_keys"), log: &testutil.SyncBuffer{}}
	if err := os.WriteFile(d.AuthKeys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var hostKeyLines []string
	for i, k := range []crypto.Signer{newEd25519(t), newECDSA(t)} {
		path := filepath.Join(dir, fmt.Sprintf("host_key_%d", i))
		writePrivateKey(t, path, k, "")
		pub, err := ssh.NewPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		d.HostKeys = append(d.HostKeys, pub)
		hostKeyLines = append(hostKeyLines, "HostKey "+path)
	}
	d.Port = testutil.FreePort(t)
	streamLocal := "yes"
	if o.noStreamLocal {
		streamLocal = "no"
	}
	logLevel := "VERBOSE"
	if o.debugLog {
		logLevel = "DEBUG1"
	}
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
%s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
AllowStreamLocalForwarding %s
AllowTcpForwarding yes
LogLevel %s
`, d.Port, strings.Join(hostKeyLines, "\n"), filepath.Join(dir, "sshd.pid"), d.AuthKeys, streamLocal, logLevel)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	d.cmd.Stderr = d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { d.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// sshd -D forks a process per connection in its process group (ours).
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGCONT)
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("sshd log:\n%s", d.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited: %s", d.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", d.addr(), err, d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

func (d *testSSHD) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port)) }

// knownHostsLine is the known_hosts line for host key i of this sshd.
func (d *testSSHD) knownHostsLine(i int) string {
	return knownhosts.Line([]string{knownhosts.Normalize(d.addr())}, d.HostKeys[i])
}

// authorize adds pub to the server's authorized keys.
func (d *testSSHD) authorize(t *testing.T, pub ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(d.AuthKeys, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(pub)); err != nil {
		t.Fatal(err)
	}
}

func newEd25519(t *testing.T) crypto.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newECDSA(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writePrivateKey writes k in OpenSSH format, encrypted when passphrase is
// set, and its .pub next to it.
func writePrivateKey(t *testing.T, path string, k crypto.Signer, passphrase string) ssh.PublicKey {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(k, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return pub
}

// testHome is a fake $HOME with a client key authorized on d and d's
// ed25519 host key in ~/.ssh/known_hosts.
type testHome struct {
	Dir string
	Key ssh.PublicKey
}

func newTestHome(t *testing.T, d *testSSHD) *testHome {
	t.Helper()
	h := &testHome{Dir: t.TempDir()}
	h.Key = writePrivateKey(t, filepath.Join(h.Dir, ".ssh", "id_ed25519"), newEd25519(t), "")
	d.authorize(t, h.Key)
	writeFile(t, filepath.Join(h.Dir, ".ssh", "known_hosts"), d.knownHostsLine(0)+"\n")
	return h
}

func (h *testHome) path(p string) string { return filepath.Join(h.Dir, p) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// isolate keeps the caller's ssh-agent and user out of the test.
func isolate(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("USER", "root")
}

func dialT(t *testing.T, target string, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, target, opts)
	if err != nil {
		t.Fatalf("Dial(%q) = %v", target, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runT(t *testing.T, c *Client, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := c.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("Run(%q) = %v", cmd, err)
	}
	return string(out)
}

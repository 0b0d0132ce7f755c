package sshconn

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyProblem says why a host key was refused.
type HostKeyProblem int

const (
	// HostKeyUnknown: no known_hosts file holds a key for the host.
	HostKeyUnknown HostKeyProblem = iota + 1
	// HostKeyChanged: known_hosts holds a different key for the host.
	HostKeyChanged
	// HostKeyRevoked: the key is marked @revoked in known_hosts.
	HostKeyRevoked
)

// HostKeyError is returned by Dial when the server's host key is refused.
type HostKeyError struct {
	Problem HostKeyProblem
	// Host is the destination as the user named it; Addr the address dialed.
	Host string
	Addr string
	// KnownHostsName is the name looked up in known_hosts, e.g. "example.com"
	// or "[127.0.0.1]:2222".
	KnownHostsName string
	// Key is the key the server presented.
	Key ssh.PublicKey
	// Known lists the known_hosts entries (file and line) holding the
	// expected keys (HostKeyChanged) or the revocation (HostKeyRevoked).
	Known []knownhosts.KnownKey
	// KnownHostsFiles are the files that were consulted.
	KnownHostsFiles []string
	// Port is the port dialed, for the suggested ssh-keyscan command.
	Port string
}

// Unknown reports whether the host has no known key.
func (e *HostKeyError) Unknown() bool { return e.Problem == HostKeyUnknown }

// Changed reports whether the host presented a key other than the known one.
func (e *HostKeyError) Changed() bool { return e.Problem == HostKeyChanged }

// where names the host, and the address when the name does not show it.
func (e *HostKeyError) where() string {
	if strings.HasPrefix(e.Addr, e.Host+":") || strings.HasPrefix(e.Addr, "["+e.Host+"]:") {
		return e.Addr
	}
	return fmt.Sprintf("%s (%s)", e.Host, e.Addr)
}

func (e *HostKeyError) Error() string {
	fp := ssh.FingerprintSHA256(e.Key)
	typ := e.Key.Type()
	var b strings.Builder
	switch e.Problem {
	case HostKeyChanged:
		b.WriteString("\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
		b.WriteString("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")
		b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
		b.WriteString("IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n")
		b.WriteString("Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n")
		b.WriteString("It is also possible that the host key has just been changed.\n")
		fmt.Fprintf(&b, "The %s host key sent by %s is\n  %s\n", typ, e.where(), fp)
		b.WriteString("but known_hosts expects:\n")
		for _, k := range e.Known {
			fmt.Fprintf(&b, "  %s:%d  %s %s\n", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key))
		}
		fmt.Fprintf(&b, "Host key verification failed; refusing to connect to %s.\n", e.Host)
		if len(e.Known) > 0 {
			fmt.Fprintf(&b, "If you are sure the host was re-installed, remove the old key with\n  ssh-keygen -f %q -R %q\nand connect again.",
				e.Known[0].Filename, knownhosts.Normalize(e.KnownHostsName))
		}
		return b.String()
	case HostKeyRevoked:
		fmt.Fprintf(&b, "host key for %s is REVOKED: %s %s is marked @revoked in %s:%d; refusing to connect",
			e.where(), typ, fp, e.Known[0].Filename, e.Known[0].Line)
		return b.String()
	default:
		fmt.Fprintf(&b, "host key for %s is not known: the server offered %s %s, and no key for %q is in %s. ",
			e.where(), typ, fp, knownhosts.Normalize(e.KnownHostsName), strings.Join(e.KnownHostsFiles, ", "))
		host, _, _ := net.SplitHostPort(e.Addr)
		fmt.Fprintf(&b, "Verify the fingerprint out of band (e.g. on the droplet: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add it with\n"+
			"  ssh-keyscan -p %s %s >> ~/.ssh/known_hosts\nor connect once with -o StrictHostKeyChecking=accept-new", e.Port, host)
		return b.String()
	}
}

// hostKeyChecker implements known_hosts verification for one destination.
type hostKeyChecker struct {
	h     *hostConfig
	files []string // existing known_hosts files, user files first
	cb    ssh.HostKeyCallback
	log   hclog.Logger
}

func newHostKeyChecker(h *hostConfig, log hclog.Logger) (*hostKeyChecker, error) {
	c := &hostKeyChecker{h: h, log: log}
	for _, f := range append(append([]string(nil), h.UserKnownHostsFiles...), h.GlobalKnownHostsFiles...) {
		if _, err := os.Stat(f); err == nil {
			c.files = append(c.files, f)
		}
	}
	if len(c.files) > 0 {
		cb, err := knownhosts.New(c.files...)
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts: %w", err)
		}
		c.cb = cb
	}
	return c, nil
}

// probeKey is a key no known_hosts line will hold; checking it yields the
// list of keys known for a host.
var probeKey = func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(zeroReader{})
	k, _ := ssh.NewPublicKey(pub)
	return k
}()

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}

// algorithms returns the host key algorithms of the keys known for the host,
// so that a server offering several key types presents one we know rather
// than one that looks unknown. Nil means no preference.
func (c *hostKeyChecker) algorithms() []string {
	if c.cb == nil {
		return nil
	}
	err := c.cb(c.h.knownHostsName(), &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch k.Key.Type() {
		case ssh.KeyAlgoRSA:
			algos = appendUnique(algos, ssh.KeyAlgoRSASHA512)
			algos = appendUnique(algos, ssh.KeyAlgoRSASHA256)
			algos = appendUnique(algos, ssh.KeyAlgoRSA)
		default:
			algos = appendUnique(algos, k.Key.Type())
		}
	}
	return algos
}

// check is the ssh.HostKeyCallback.
func (c *hostKeyChecker) check(_ string, remote net.Addr, key ssh.PublicKey) error {
	name := c.h.knownHostsName()
	var err error
	if c.cb != nil {
		err = c.cb(name, remote, key)
	} else {
		err = &knownhosts.KeyError{}
	}
	if err == nil {
		return nil
	}
	hkErr := &HostKeyError{
		Host:            c.h.Alias,
		Addr:            c.h.addr(),
		KnownHostsName:  name,
		Key:             key,
		KnownHostsFiles: append(append([]string(nil), c.h.UserKnownHostsFiles...), c.h.GlobalKnownHostsFiles...),
		Port:            fmt.Sprint(c.h.Port),
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		hkErr.Problem = HostKeyRevoked
		hkErr.Known = []knownhosts.KnownKey{re.Revoked}
		return hkErr
	case errors.As(err, &ke) && len(ke.Want) > 0:
		hkErr.Problem = HostKeyChanged
		hkErr.Known = ke.Want
		if c.h.StrictHostKeyChecking == "no" {
			c.log.Warn("HOST KEY HAS CHANGED; connecting anyway because StrictHostKeyChecking=no", "error", hkErr.Error())
			return nil
		}
		return hkErr
	case errors.As(err, &ke):
		hkErr.Problem = HostKeyUnknown
		if c.h.StrictHostKeyChecking == "yes" {
			return hkErr
		}
		if err := c.add(name, key); err != nil {
			return fmt.Errorf("adding host key for %s: %w", c.h.display(), err)
		}
		return nil
	default:
		return fmt.Errorf("checking host key of %s: %w", c.h.display(), err)
	}
}

// add appends the key to the first UserKnownHostsFile, as ssh does for
// StrictHostKeyChecking=accept-new (and =no).
func (c *hostKeyChecker) add(name string, key ssh.PublicKey) error {
	if len(c.h.UserKnownHostsFiles) == 0 {
		return fmt.Errorf("no UserKnownHostsFile to write to")
	}
	file := c.h.UserKnownHostsFiles[0]
	host := knownhosts.Normalize(name)
	if c.h.HashKnownHosts {
		host = knownhosts.HashHostname(host)
	}
	line := knownhosts.Line([]string{host}, key)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// Start on a fresh line even if the file lacks a final newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		buf := make([]byte, 1)
		if r, err := os.Open(file); err == nil {
			if _, err := r.ReadAt(buf, st.Size()-1); err == nil && buf[0] != '\n' {
				line = "\n" + line
			}
			r.Close()
		}
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	c.log.Info("permanently added host key to known_hosts", "host", host, "type", key.Type(),
		"fingerprint", ssh.FingerprintSHA256(key), "file", file)
	return nil
}

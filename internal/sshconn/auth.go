package sshconn

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AuthError is returned by Dial when the server accepted none of the keys.
type AuthError struct {
	User string
	// Tried describes each key offered, e.g. "agent: ED25519 SHA256:…" or
	// "/root/.ssh/id_ed25519".
	Tried []string
	// Encrypted lists identity files that are passphrase-protected and that
	// no ssh-agent holds; nd cannot use them.
	Encrypted []string
	// Err is the error from the SSH library (not part of the message).
	Err error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "authenticating as %s: ", e.User)
	if len(e.Tried) == 0 {
		b.WriteString("no usable key (no ssh-agent key and no readable identity file)")
	} else {
		fmt.Fprintf(&b, "no key was accepted (tried %s)", strings.Join(e.Tried, ", "))
	}
	for _, f := range e.Encrypted {
		fmt.Fprintf(&b, "; %s is encrypted and no ssh-agent holds it: run `ssh-add %s`", f, f)
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// keySource describes the keys offered for one destination.
type keySource struct {
	signers   []ssh.Signer
	tried     []string
	encrypted []string
	agentConn net.Conn
}

func (k *keySource) close() {
	if k.agentConn != nil {
		k.agentConn.Close()
	}
}

// loadKeys collects the signers to offer, in ssh's order: identity files
// (-i first, then IdentityFile lines, else the default files), each through
// the agent when the agent holds it; then the agent's other keys unless
// IdentitiesOnly is set.
func loadKeys(h *hostConfig, log hclog.Logger) (*keySource, error) {
	ks := &keySource{}
	var agentSigners []ssh.Signer
	if h.IdentityAgent != "" {
		conn, err := net.Dial("unix", h.IdentityAgent)
		if err != nil {
			log.Warn("cannot reach ssh-agent; using identity files only", "socket", h.IdentityAgent, "error", err)
		} else {
			ks.agentConn = conn
			agentSigners, err = agent.NewClient(conn).Signers()
			if err != nil {
				log.Warn("listing ssh-agent keys failed", "error", err)
				agentSigners = nil
			}
		}
	}
	fromAgent := func(pub ssh.PublicKey) ssh.Signer {
		for _, s := range agentSigners {
			if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return s
			}
		}
		return nil
	}
	used := map[string]bool{}
	add := func(s ssh.Signer, desc string) {
		k := string(s.PublicKey().Marshal())
		if used[k] {
			return
		}
		used[k] = true
		ks.signers = append(ks.signers, s)
		ks.tried = append(ks.tried, desc)
	}

	for _, file := range h.IdentityFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			if !os.IsNotExist(err) {
				log.Warn("identity file not readable", "file", file, "error", err)
			}
			// Like ssh, a public key alone still lets the agent's key be used.
			if pub := readPub(file + ".pub"); pub != nil {
				if s := fromAgent(pub); s != nil {
					add(s, file+" (agent)")
				}
			}
			continue
		}
		signer, err := ssh.ParsePrivateKey(data)
		var missing *ssh.PassphraseMissingError
		switch {
		case err == nil:
			if s := fromAgent(signer.PublicKey()); s != nil {
				add(s, file+" (agent)")
			} else {
				add(signer, file)
			}
		case errors.As(err, &missing):
			pub := missing.PublicKey
			if pub == nil {
				pub = readPub(file + ".pub")
			}
			if pub != nil {
				if s := fromAgent(pub); s != nil {
					add(s, file+" (agent)")
					continue
				}
			}
			ks.encrypted = append(ks.encrypted, file)
			log.Debug("skipping encrypted identity file that no agent holds", "file", file)
		default:
			log.Warn("cannot parse identity file", "file", file, "error", err)
		}
	}
	if !h.IdentitiesOnly {
		for _, s := range agentSigners {
			add(s, fmt.Sprintf("agent key %s %s", s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey())))
		}
	}
	return ks, nil
}

func readPub(file string) ssh.PublicKey {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil
	}
	return pub
}

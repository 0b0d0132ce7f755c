package sshconn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/sshconn"
	"golang.org/x/crypto/ssh"
)

// TestFleetDroplet connects to a simulated droplet the way nd-push does: by
// its Host alias through the droplet's ssh_config, with this package's code
// (no ssh binary), and reaches the droplet's dockerd over the connection.
func TestFleetDroplet(t *testing.T) {
	d := fleet.ForTest(t, 1, fleet.Options{})[0]
	t.Setenv("SSH_AUTH_SOCK", "") // only the droplet's key
	home := t.TempDir()           // no ~/.ssh of the machine
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := sshconn.Options{ConfigFile: d.SSHConfig(), HomeDir: home}

	t.Run("wrong known_hosts", func(t *testing.T) {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		other, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		wrong := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(wrong, []byte(d.Addr+","+d.Name+" "+string(ssh.MarshalAuthorizedKey(other))), 0o600)
		empty := filepath.Join(t.TempDir(), "empty_known_hosts")
		os.WriteFile(empty, nil, 0o600)

		for _, tt := range []struct {
			file    string
			changed bool
		}{{wrong, true}, {empty, false}} {
			o := opts
			o.Overrides = map[string]string{"UserKnownHostsFile": tt.file}
			c, err := sshconn.Dial(ctx, d.Name, o)
			if err == nil {
				c.Close()
				t.Fatalf("Dial with %s succeeded", tt.file)
			}
			var hk *sshconn.HostKeyError
			if !errors.As(err, &hk) || hk.Changed() != tt.changed || hk.Unknown() == tt.changed {
				t.Fatalf("Dial with %s = %v; want HostKeyError changed=%v", tt.file, err, tt.changed)
			}
			for _, want := range []string{d.Name, d.Addr, ssh.FingerprintSHA256(d.HostKey())} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if tt.changed && !strings.Contains(err.Error(), tt.file+":1") {
				t.Errorf("error does not name %s:1:\n%v", tt.file, err)
			}
		}
	})

	c, err := sshconn.Dial(ctx, d.Name, opts)
	if err != nil {
		t.Fatalf("Dial(%s) with %s: %v", d.Name, d.SSHConfig(), err)
	}
	defer c.Close()
	if !strings.Contains(c.Host(), d.Name) {
		t.Errorf("Host() = %q, want it to name %s", c.Host(), d.Name)
	}

	out, err := c.Run(ctx, "id -u; ip -o -4 addr show")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "0\n") || !strings.Contains(string(out), " "+d.Addr+"/") {
		t.Errorf("remote command output %q: want uid 0 on a host with address %s", out, d.Addr)
	}

	// dockerd's API through direct-streamlocal over the same connection.
	httpc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.DialUnix(ctx, "/run/docker.sock")
		},
	}}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://docker/_ping", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("GET /_ping over %s: %v", c.Host(), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK" {
		t.Errorf("GET /_ping = %d %q, want 200 \"OK\"", resp.StatusCode, body)
	}
	httpc.CloseIdleConnections()
}

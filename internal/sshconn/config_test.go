package sshconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    target
		wantErr bool
	}{
		{in: "droplet", want: target{host: "droplet"}},
		{in: "deploy@droplet", want: target{user: "deploy", host: "droplet"}},
		{in: "deploy@203.0.113.5:2222", want: target{user: "deploy", host: "203.0.113.5", port: 2222}},
		{in: "[2001:db8::1]:22", want: target{host: "2001:db8::1", port: 22}},
		{in: "root@[2001:db8::1]", want: target{user: "root", host: "2001:db8::1"}},
		{in: "2001:db8::1", want: target{host: "2001:db8::1"}},
		{in: "a@b@host", want: target{user: "a@b", host: "host"}},
		{in: "ssh://me@host:2200", want: target{user: "me", host: "host", port: 2200}},
		{in: "ssh://host", want: target{host: "host"}},
		{in: "", wantErr: true},
		{in: "host:notaport", wantErr: true},
		{in: "host:0", wantErr: true},
		{in: "user@", wantErr: true},
		{in: "ssh://host/path", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTarget(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseTarget(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("parseTarget(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	home := "/home/alice"
	env := resolveEnv{home: home, localUser: "alice", authSock: "/tmp/agent.sock"}
	config := `
Host *.prod !db.prod
  User deploy
  Port 2222
Host web.prod
  HostName %h.example.com
  IdentityFile ~/.ssh/%r-%h
  IdentityFile %d/keys/%u@%n
  UserKnownHostsFile ~/.ssh/kh-prod /etc/nd/known_hosts
  StrictHostKeyChecking accept-new
  ProxyJump bastion, admin@gw:2200
  ConnectTimeout 7
  ServerAliveInterval 1m30s
  ServerAliveCountMax 5
  IdentitiesOnly yes
  IdentityAgent ~/agent.sock
Host db.prod
  HostName 10.0.0.5
  IdentityAgent none
  StrictHostKeyChecking no
Host *
  User fallback
  IdentityFile ~/.ssh/common
  GlobalKnownHostsFile /etc/nd/global
`
	cfgFile := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := loadConfigs(&Options{ConfigFile: cfgFile}, home)
	if err != nil {
		t.Fatal(err)
	}
	withOverrides, err := loadConfigs(&Options{ConfigFile: cfgFile, Overrides: map[string]string{
		"User": "override", "StrictHostKeyChecking": "yes", "ProxyJump": "none", "IdentityFile": "/keys/o"}}, home)
	if err != nil {
		t.Fatal(err)
	}

	defaultKH := []string{home + "/.ssh/known_hosts", home + "/.ssh/known_hosts2"}
	tests := []struct {
		name   string
		cs     *configSet
		target string
		cl     cmdline
		want   hostConfig
	}{
		{
			name: "wildcard, %h, tokens, lists", cs: cs, target: "web.prod",
			want: hostConfig{
				Alias: "web.prod", HostName: "web.prod.example.com", Port: 2222, User: "deploy",
				IdentityFiles:         []string{home + "/.ssh/deploy-web.prod.example.com", home + "/keys/alice@web.prod", home + "/.ssh/common"},
				IdentitiesOnly:        true,
				IdentityAgent:         home + "/agent.sock",
				UserKnownHostsFiles:   []string{home + "/.ssh/kh-prod", "/etc/nd/known_hosts"},
				GlobalKnownHostsFiles: []string{"/etc/nd/global"},
				StrictHostKeyChecking: "accept-new",
				ProxyJump:             []string{"bastion", "admin@gw:2200"},
				ConnectTimeout:        7 * time.Second,
				ServerAliveInterval:   90 * time.Second,
				ServerAliveCountMax:   5,
			},
		},
		{
			name: "negated pattern skips the wildcard block", cs: cs, target: "db.prod",
			want: hostConfig{
				Alias: "db.prod", HostName: "10.0.0.5", Port: 22, User: "fallback",
				IdentityFiles:         []string{home + "/.ssh/common"},
				UserKnownHostsFiles:   defaultKH,
				GlobalKnownHostsFiles: []string{"/etc/nd/global"},
				StrictHostKeyChecking: "no",
				ServerAliveCountMax:   3,
			},
		},
		{
			name: "command line beats target beats config", cs: cs, target: "bob@web.prod:2300",
			cl: cmdline{user: "carol", port: 2400, identityFiles: []string{"~/first"}},
			want: hostConfig{
				Alias: "web.prod", HostName: "web.prod.example.com", Port: 2400, User: "carol",
				IdentityFiles: []string{home + "/first", home + "/.ssh/carol-web.prod.example.com",
					home + "/keys/alice@web.prod", home + "/.ssh/common"},
				IdentitiesOnly:        true,
				IdentityAgent:         home + "/agent.sock",
				UserKnownHostsFiles:   []string{home + "/.ssh/kh-prod", "/etc/nd/known_hosts"},
				GlobalKnownHostsFiles: []string{"/etc/nd/global"},
				StrictHostKeyChecking: "accept-new",
				ProxyJump:             []string{"bastion", "admin@gw:2200"},
				ConnectTimeout:        7 * time.Second,
				ServerAliveInterval:   90 * time.Second,
				ServerAliveCountMax:   5,
			},
		},
		{
			name: "target user and port beat config", cs: cs, target: "bob@api.prod:2300",
			want: hostConfig{
				Alias: "api.prod", HostName: "api.prod", Port: 2300, User: "bob",
				IdentityFiles:         []string{home + "/.ssh/common"},
				IdentityAgent:         "/tmp/agent.sock",
				UserKnownHostsFiles:   defaultKH,
				GlobalKnownHostsFiles: []string{"/etc/nd/global"},
				StrictHostKeyChecking: "yes",
				ServerAliveCountMax:   3,
			},
		},
		{
			name: "-o overrides beat the file", cs: withOverrides, target: "web.prod",
			want: hostConfig{
				Alias: "web.prod", HostName: "web.prod.example.com", Port: 2222, User: "override",
				IdentityFiles: []string{"/keys/o", home + "/.ssh/override-web.prod.example.com",
					home + "/keys/alice@web.prod", home + "/.ssh/common"},
				IdentitiesOnly:        true,
				IdentityAgent:         home + "/agent.sock",
				UserKnownHostsFiles:   []string{home + "/.ssh/kh-prod", "/etc/nd/known_hosts"},
				GlobalKnownHostsFiles: []string{"/etc/nd/global"},
				StrictHostKeyChecking: "yes",
				ConnectTimeout:        7 * time.Second,
				ServerAliveInterval:   90 * time.Second,
				ServerAliveCountMax:   5,
			},
		},
		{
			name: "no config at all: ssh defaults", cs: &configSet{}, target: "1.2.3.4",
			want: hostConfig{
				Alias: "1.2.3.4", HostName: "1.2.3.4", Port: 22, User: "alice",
				IdentityFiles:         []string{home + "/.ssh/id_ed25519", home + "/.ssh/id_ecdsa", home + "/.ssh/id_rsa"},
				IdentityAgent:         "/tmp/agent.sock",
				UserKnownHostsFiles:   defaultKH,
				GlobalKnownHostsFiles: []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
				StrictHostKeyChecking: "yes",
				ServerAliveCountMax:   3,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := parseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.cs.resolve(tg, tt.cl, env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("resolve(%q) mismatch (-want +got):\n%s", tt.target, diff)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	env := resolveEnv{home: "/h", localUser: "u"}
	tests := []struct{ config, wantErr string }{
		{"Host x\n  ProxyCommand nc %h %p\n", "ProxyCommand is not supported"},
		{"Host x\n  StrictHostKeyChecking maybe\n", "bad StrictHostKeyChecking"},
		{"Host x\n  Port 99999\n", "bad port"},
		{"Host x\n  ConnectTimeout 5x\n", "ConnectTimeout"},
	}
	for _, tt := range tests {
		f := filepath.Join(t.TempDir(), "config")
		os.WriteFile(f, []byte(tt.config), 0o600)
		cs, err := loadConfigs(&Options{ConfigFile: f}, "/h")
		if err != nil {
			t.Fatal(err)
		}
		_, err = cs.resolve(target{host: "x"}, cmdline{}, env)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("resolve with %q = %v, want error containing %q", tt.config, err, tt.wantErr)
		}
	}
	if _, err := loadConfigs(&Options{ConfigFile: "/nonexistent/config"}, "/h"); err == nil {
		t.Error("loadConfigs with a missing -F file succeeded")
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "10": 10 * time.Second, "1m30s": 90 * time.Second, "2h": 2 * time.Hour, "1w": 7 * 24 * time.Hour} {
		if got, err := seconds(in); err != nil || got != want {
			t.Errorf("seconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

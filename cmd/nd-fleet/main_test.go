package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nd-project/nd/internal/fleet"
	"github.com/nd-project/nd/internal/testutil"
)

func TestDropletNames(t *testing.T) {
	for _, tc := range []struct {
		names   []string
		n       int
		want    []string
		wantErr bool
	}{
		{nil, 0, []string{"droplet-1"}, false},
		{nil, 2, []string{"droplet-1", "droplet-2"}, false},
		{[]string{"a"}, 0, []string{"a"}, false},
		{[]string{"a"}, 1, []string{"a"}, false},
		{[]string{"a"}, 3, []string{"a-1", "a-2", "a-3"}, false},
		{[]string{"a", "b"}, 0, []string{"a", "b"}, false},
		{[]string{"a", "b"}, 2, []string{"a", "b"}, false},
		{[]string{"a", "b"}, 3, nil, true},
		{nil, -1, nil, true},
	} {
		got, err := dropletNames(tc.names, tc.n)
		if (err != nil) != tc.wantErr || !cmp.Equal(got, tc.want) {
			t.Errorf("dropletNames(%q, %d) = %q, %v; want %q, error %v", tc.names, tc.n, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"down"}, {"down", "--all", "x"}, {"down", "--stale", "--all"}, {"exec", "x"}, {"exec", "x", "--"}, {"stop", "x"}, {"reboot"}} {
		err := run(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

// TestUpExecDown drives the CLI the way the README demo does.
func TestUpExecDown(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "ip", "nsenter", "unshare", "/usr/sbin/sshd", "nix-store")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := fmt.Sprintf("cli-%d", os.Getpid())
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, strings.NewReader(""), &out, &errOut)
		if err != nil {
			err = fmt.Errorf("nd-fleet %s: %w (stderr %q)", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), err
	}
	out, err := cli("up", "--no-docker", "--rate", "500mbit", name)
	t.Cleanup(func() { fleet.Down(name) })
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	if len(fields) != 3 || fields[0] != name || !strings.HasPrefix(fields[1], "10.213.") || !strings.HasSuffix(fields[2], "/ssh_config") {
		t.Fatalf("up printed %q, want NAME ADDR SSH_CONFIG", out)
	}
	if out, err := cli("exec", name, "--", "nix-store", "--version"); err != nil || !strings.Contains(out, "Nix") {
		t.Errorf("exec nix-store --version = %q, %v", out, err)
	}
	var ee exitError
	if _, err := cli("exec", name, "--", "sh", "-c", "exit 7"); !errors.As(err, &ee) || ee.code != 7 {
		t.Errorf("exec of exit 7 = %v, want exit code 7", err)
	}
	if _, err := cli("start", "--name", "sleeper", name, "--", "sleep", "100"); err != nil {
		t.Error(err)
	}
	if _, err := cli("stop", name, "sleeper"); err != nil {
		t.Error(err)
	}
	if out, err := cli("list"); err != nil || !strings.Contains(out, name+" ") {
		t.Errorf("list = %q, %v; want a line for %s", out, err, name)
	}
	if _, err := cli("down", name); err != nil {
		t.Fatal(err)
	}
	if out, _ := cli("list"); strings.Contains(out, name+" ") {
		t.Errorf("list after down still shows %s: %q", name, out)
	}
	for _, l := range fleet.Leftovers() {
		if strings.Contains(l, name) {
			t.Errorf("left behind after down: %s", l)
		}
	}
}

// TestUpModernRebootDown drives a modern droplet through the CLI: the
// variant flags, list, reboot, exec of systemctl, down. Bad variant flags
// fail before anything is made.
func TestUpModernRebootDown(t *testing.T) {
	testutil.RequireRoot(t)
	err := fleet.RootfsReady()
	testutil.Require(t, err == nil, fmt.Sprint(err))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := fmt.Sprintf("cli-modern-%d", os.Getpid())
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, strings.NewReader(""), &out, &errOut)
		if err != nil {
			err = fmt.Errorf("nd-fleet %s: %w (stderr %q)", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), err
	}
	for _, bad := range [][]string{{"--containerd-store"}, {"--kind", "modern", "--no-nix", "--nix-layout", "installer"}, {"--kind", "sid"}} {
		if _, err := cli(append(append([]string{"up"}, bad...), name)...); err == nil {
			t.Errorf("up %q succeeded, want an error", bad)
		}
		if _, err := os.Stat("/run/nd-fleet/" + name); err == nil {
			t.Fatalf("up %q left droplet state behind", bad)
		}
	}
	if _, err := cli("up", "--kind", "modern", "--containerd-store", "--nix-layout", "installer", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Down(name) })
	out, err := cli("list")
	var row []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[0] == name {
			row = f
		}
	}
	if err != nil || len(row) != 6 || row[1] != "modern" || row[3] != "installer" || row[4] != "containerd-store" {
		t.Errorf("list = %q, %v; want %s as modern, installer Nix, containerd store", out, err, name)
	}
	if _, err := cli("exec", name, "--", "sh", "-c", "echo kept >/root/m"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("reboot", name); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("exec", name, "--", "sh", "-c", "cat /root/m && systemctl is-active docker"); err != nil || out != "kept\nactive\n" {
		t.Errorf("after reboot: %q, %v", out, err)
	}
	if _, err := cli("down", name); err != nil {
		t.Fatal(err)
	}
	for _, l := range fleet.Leftovers() {
		if strings.Contains(l, name) {
			t.Errorf("left behind after down: %s", l)
		}
	}
}

package cli

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestParseExecArgs(t *testing.T) {
	tests := []struct {
		args      []string
		host, app string
		cmd       []string
		tty       bool
		wantErr   bool
	}{
		{args: []string{"h", "a", "--", "ls", "-l"}, host: "h", app: "a", cmd: []string{"ls", "-l"}},
		{args: []string{"h", "a", "ls", "-l"}, host: "h", app: "a", cmd: []string{"ls", "-l"}},
		{args: []string{"-t", "-p", "2222", "h", "a", "--", "sh", "-c", "exit 3"}, host: "h", app: "a", cmd: []string{"sh", "-c", "exit 3"}, tty: true},
		{args: []string{"-t", "h", "a", "--", "--", "x"}, host: "h", app: "a", cmd: []string{"--", "x"}, tty: true},
		// Flags stop at HOST: everything after APP is the command's.
		{args: []string{"h", "a", "ls", "-t"}, host: "h", app: "a", cmd: []string{"ls", "-t"}},
		{args: []string{"--", "h", "a", "x"}, host: "h", app: "a", cmd: []string{"x"}},
		{args: []string{"h", "a"}, wantErr: true},
		{args: []string{"h", "a", "--"}, wantErr: true},
		{args: []string{"h"}, wantErr: true},
		{args: []string{"--bogus", "h", "a", "x"}, wantErr: true},
	}
	for _, tt := range tests {
		o := &execOptions{}
		fs := pflag.NewFlagSet("exec", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.register(fs)
		o.ssh.register(fs)
		err := fs.Parse(tt.args)
		if err == nil {
			err = o.setArgs(fs.Args())
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("exec %q: error = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if o.Host != tt.host || o.App != tt.app || o.TTY != tt.tty || !cmp.Equal(o.Cmd, tt.cmd) {
			t.Errorf("exec %q = %s %s %q tty=%v, want %s %s %q tty=%v", tt.args, o.Host, o.App, o.Cmd, o.TTY, tt.host, tt.app, tt.cmd, tt.tty)
		}
	}
}

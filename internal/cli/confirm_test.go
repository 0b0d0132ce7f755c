package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/hashicorp/go-hclog"
)

// TestRmVolumesAsks: on a terminal rm --volumes asks before anything is
// contacted; "n" stops it, "y" goes on (here to a host that is not there).
func TestRmVolumesAsks(t *testing.T) {
	for answer, want := range map[string]string{"n\n": "not confirmed; nothing removed", "y\n": "127.0.0.1"} {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		ptmx.Write([]byte(answer))
		var out, errb bytes.Buffer
		env := &Env{Stdin: tty, Stdout: &out, Stderr: &errb, Log: hclog.NewNullLogger()}
		root := newRootCmd(env)
		root.SetArgs([]string{"rm", "--volumes", "-p", "1", "127.0.0.1", "web"})
		err = root.Execute()
		tty.Close()
		ptmx.Close()
		if !strings.Contains(errb.String(), "remove web from 127.0.0.1 with its volumes? Their data is lost. [y/N]") {
			t.Errorf("answer %q: no question asked: %q", answer, errb.String())
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("answer %q: rm --volumes = %v, want an error with %q", answer, err, want)
		}
	}
}

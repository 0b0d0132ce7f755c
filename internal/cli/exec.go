package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/proto"
)

// ExitCodeError makes nd-push exit with Code (exec passes on the command's
// exit code this way).
type ExitCodeError struct{ Code int }

func (e *ExitCodeError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

// execOptions are nd-push exec's flags and arguments.
type execOptions struct {
	ssh         sshFlags
	Interactive bool // --stdin: pass stdin on (-i is ssh's identity file)
	TTY         bool // -t: a terminal
	NoTTY       bool // -T: no terminal even if stdin is one
	Host, App   string
	Cmd         []string
}

func runExecCmd(ctx context.Context, env *Env, args []string) error {
	o, err := parseExecArgs(args, env.Stderr)
	if err != nil {
		return err
	}
	return runExec(ctx, env, o)
}

// parseExecArgs takes flags and HOST APP; everything after APP (and an
// optional --) is the command, its flags included.
func parseExecArgs(args []string, stderr io.Writer) (*execOptions, error) {
	o := &execOptions{}
	fs := newHostFlagSet("exec", "HOST APP -- COMMAND [ARG...]", stderr, &o.ssh)
	fs.BoolVar(&o.Interactive, "stdin", false, "pass stdin to the command (default when stdin is a terminal)")
	fs.BoolVar(&o.TTY, "t", false, "give the command a terminal (default when stdin is a terminal, like ssh -t)")
	fs.BoolVar(&o.NoTTY, "T", false, "no terminal, even if stdin is one (like ssh -T)")
	var pos []string
	for len(pos) < 2 {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			args = args[1:]
			continue
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(pos) < 2 || len(args) == 0 {
		return nil, usagef("exec: want HOST APP -- COMMAND [ARG...]")
	}
	o.Host, o.App, o.Cmd = pos[0], pos[1], args
	return o, nil
}

// runExec runs a command in the app's running container through the agent.
// A non-zero exit code comes back as *ExitCodeError.
func runExec(ctx context.Context, env *Env, o *execOptions) error {
	stdinFile, _ := env.Stdin.(*os.File)
	isTerm := stdinFile != nil && term.IsTerminal(int(stdinFile.Fd()))
	tty := (o.TTY || isTerm) && !o.NoTTY
	interactive := o.Interactive || isTerm
	if tty && !isTerm {
		fmt.Fprintf(env.Stderr, "nd-push: stdin is not a terminal; running without one\n")
		tty = false
	}
	h, err := connect(ctx, env, &o.ssh, o.Host)
	if err != nil {
		return err
	}
	defer h.Close()

	req := proto.Exec{App: o.App, Cmd: o.Cmd, Stdin: interactive, TTY: tty}
	stdio := agentclient.ExecIO{Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr}
	if tty {
		fd := int(stdinFile.Fd())
		if w, hgt, err := term.GetSize(fd); err == nil {
			req.Cols, req.Rows = uint(w), uint(hgt)
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("putting the terminal in raw mode: %w", err)
		}
		defer term.Restore(fd, old)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		resize := make(chan proto.Resize, 1)
		stdio.Resize = resize
		go func() {
			for range winch {
				if w, hgt, err := term.GetSize(fd); err == nil {
					select {
					case resize <- proto.Resize{Rows: uint(hgt), Cols: uint(w)}:
					default:
					}
				}
			}
		}()
	}
	code, err := h.agent.Exec(ctx, req, stdio)
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitCodeError{Code: code}
	}
	return nil
}

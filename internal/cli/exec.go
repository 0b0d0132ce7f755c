package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

func newExecCmd(env *Env) *cobra.Command {
	o := &execOptions{}
	c := hostCmd("exec [flags] HOST APP [--] COMMAND [ARG...]", "run a command in an app's running container",
		nil, &o.ssh, func(cmd *cobra.Command, args []string) error {
			if err := o.setArgs(args); err != nil {
				return err
			}
			return runExec(cmd.Context(), env, o)
		})
	c.Long = `exec runs COMMAND in APP's running container; its exit status is nd-push's.
Flags go before HOST: everything after APP is the command's, its flags too
(as with docker exec), so a '--' there is optional.`
	c.Example = `  nd-push exec droplet hello -- ls -l /
  nd-push exec -T droplet hello sh -c 'echo $PATH'`
	o.register(c.Flags())
	return c
}

func (o *execOptions) register(fs *pflag.FlagSet) {
	// Flags stop at HOST, so the command's own flags reach it untouched.
	fs.SetInterspersed(false)
	fs.BoolVar(&o.Interactive, "stdin", false, "pass stdin to the command (default when stdin is a terminal)")
	fs.BoolVarP(&o.TTY, "tty", "t", false, "give the command a terminal (default when stdin is a terminal, like ssh -t)")
	fs.BoolVarP(&o.NoTTY, "no-tty", "T", false, "no terminal, even if stdin is one (like ssh -T)")
}

// setArgs takes HOST APP and the command; one "--" after APP is dropped.
func (o *execOptions) setArgs(args []string) error {
	if len(args) >= 2 {
		o.Host, o.App = args[0], args[1]
		o.Cmd = args[2:]
		if len(o.Cmd) > 0 && o.Cmd[0] == "--" {
			o.Cmd = o.Cmd[1:]
		}
	}
	if len(args) < 2 || len(o.Cmd) == 0 {
		return usagef("exec: want HOST APP -- COMMAND [ARG...]")
	}
	return nil
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

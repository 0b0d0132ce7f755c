package cli

import (
	"flag"
	"fmt"
	"io"
)

// newHostFlagSet makes the flag set of a command that operates on one host
// (status, logs, rm, exec, rollback): the ssh flags plus the command's own.
func newHostFlagSet(name, args string, stderr io.Writer, ssh *sshFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("nd-push "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ssh.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nd-push %s [flags] %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseHostArgs parses flags anywhere among the arguments and checks the
// number of positional ones.
func parseHostArgs(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(pos) < min || len(pos) > max {
		return nil, usagef("%s: want %s", fs.Name(), usageArgs(fs))
	}
	return pos, nil
}

func usageArgs(fs *flag.FlagSet) string {
	switch fs.Name() {
	case "nd-push status":
		return "HOST [APP]"
	case "nd-push rollback":
		return "HOST APP [GENERATION]"
	case "nd-push exec":
		return "HOST APP -- COMMAND [ARG...]"
	}
	return "HOST APP"
}

package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/sshconn"
)

// flagGroup is the pflag annotation that puts a flag under a heading of its
// own in help ("SSH flags"); help.go reads it.
const flagGroup = "nd-group"

// sshFlags are the ssh(1)-like flags every command that reaches a host
// takes, before or after the subcommand and between its arguments.
type sshFlags struct {
	ConfigFile  string
	Identities  []string
	Port        int
	Options     []string // -o Key=Value
	AgentSocket string
	AgentPath   string // nd-agent on the host, for dial-stdio
	DialStdio   bool
}

// Every non-boolean flag's usage names its value in backquotes, which pflag
// shows instead of a Go type ("-p, --port PORT", not "--port int").
func (f *sshFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.ConfigFile, "ssh-config", "F", "", "ssh config `FILE` (replaces ~/.ssh/config, like ssh -F)")
	fs.StringArrayVarP(&f.Identities, "identity", "i", nil, "identity `FILE` tried first (repeatable, like ssh -i)")
	fs.IntVarP(&f.Port, "port", "p", 0, "SSH `PORT` (like ssh -p)")
	fs.StringArrayVarP(&f.Options, "ssh-option", "o", nil, "ssh option `Key=Value` (repeatable, like ssh -o)")
	fs.StringVar(&f.AgentSocket, "agent-socket", "/run/nd-agent/agent.sock", "nd-agent's socket `PATH` on the host")
	fs.StringVar(&f.AgentPath, "agent-path", "nd-agent", "nd-agent `COMMAND` on the host, for dial-stdio")
	fs.BoolVar(&f.DialStdio, "dial-stdio", false, "reach the agent through 'nd-agent dial-stdio' instead of stream forwarding")
	for _, n := range []string{"ssh-config", "identity", "port", "ssh-option", "agent-socket", "agent-path", "dial-stdio"} {
		fs.SetAnnotation(n, flagGroup, []string{"ssh"})
	}
}

func (f *sshFlags) options(log hclog.Logger) (sshconn.Options, error) {
	o := sshconn.Options{
		ConfigFile:    f.ConfigFile,
		IdentityFiles: f.Identities,
		Port:          f.Port,
		Logger:        log,
	}
	for _, kv := range f.Options {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, usagef("-o %q: want Key=Value", kv)
		}
		if o.Overrides == nil {
			o.Overrides = map[string]string{}
		}
		o.Overrides[k] = v
	}
	return o, nil
}

// includeFlag collects -I entries; only nixpkgs=PATH means anything to nd.
type includeFlag struct{ nixpkgs *string }

func (f includeFlag) String() string { return "" }
func (f includeFlag) Type() string   { return "nixpkgs=PATH" }

func (f includeFlag) Set(v string) error {
	if p, ok := strings.CutPrefix(v, "nixpkgs="); ok && p != "" {
		*f.nixpkgs = p
		return nil
	}
	return fmt.Errorf("want nixpkgs=PATH, got %q", v)
}

var (
	_ pflag.Value = includeFlag{}
	_ pflag.Value = tailFlag{}
)

// tailFlag is logs --tail: a line count, or "all" (kept as -1).
type tailFlag struct{ n *int }

func (f tailFlag) String() string {
	if f.n == nil || *f.n < 0 {
		return "all"
	}
	return strconv.Itoa(*f.n)
}
func (f tailFlag) Type() string { return "N" }

func (f tailFlag) Set(v string) error {
	if v == "all" {
		*f.n = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("want a number of lines or all, got %q", v)
	}
	*f.n = n
	return nil
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
)

// statusOptions are nd-push status' flags and arguments.
type statusOptions struct {
	ssh  sshFlags
	JSON bool
	Host string
	App  string // "": all
}

func newStatusCmd(env *Env) *cobra.Command {
	o := &statusOptions{}
	c := hostCmd("status [flags] HOST [APP]", "show a host's apps: generation, package, container state, health, ports",
		hostArgs(1, 2), &o.ssh, func(cmd *cobra.Command, args []string) error {
			o.Host = args[0]
			if len(args) == 2 {
				o.App = args[1]
			}
			return runStatus(cmd.Context(), env, o)
		})
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON: {version, host, apps: [...]}, described in README")
	return c
}

// StatusJSON is the shape of `nd-push status --json`. It is stable: fields
// may be added, none renamed or removed without a new Version.
type StatusJSON struct {
	Version int             `json:"version"` // 1
	Host    string          `json:"host"`    // as given on the command line
	Apps    []AppStatusJSON `json:"apps"`    // sorted by name
}

// AppStatusJSON is one app in StatusJSON: the agent's own view of it, the
// body of its GET /v1/apps (see proto.AppStatus).
type AppStatusJSON = proto.AppStatus

// ContainerJSON is the state of an app's container.
type ContainerJSON = proto.ContainerView

// DrainingJSON is a replaced container that still drains.
type DrainingJSON = proto.DrainingContainer

// GenerationJSON is one kept generation.
type GenerationJSON = proto.GenerationView

// runStatus prints the host's apps as a table or JSON. Secrets never
// appear: the agent reports no env, only generations and container state.
func runStatus(ctx context.Context, env *Env, o *statusOptions) error {
	st, err := fetchStatus(ctx, env, &o.ssh, o.Host, o.App)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(env.Stdout, st)
	}
	printStatus(env.Stdout, st)
	return nil
}

// fetchStatus asks the agent on host for the status of app ("": of every
// app) in the form status --json prints; a named app must be deployed.
func fetchStatus(ctx context.Context, env *Env, ssh *sshFlags, host, app string) (StatusJSON, error) {
	h, err := connect(ctx, env, ssh, host)
	if err != nil {
		return StatusJSON{}, err
	}
	defer h.Close()
	rep, err := h.agent.Status(ctx, app)
	if err != nil {
		return StatusJSON{}, err
	}
	if app != "" && len(rep.Apps) == 0 {
		return StatusJSON{}, fmt.Errorf("%s is not deployed on %s", app, host)
	}
	return statusJSON(host, rep), nil
}

// printJSON prints v indented, as nd-push's --json outputs are.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func statusJSON(host string, rep proto.Apps) StatusJSON {
	st := StatusJSON{Version: 1, Host: host, Apps: rep.Apps}
	if st.Apps == nil {
		st.Apps = []AppStatusJSON{}
	}
	return st
}

// shortPackage shows a store path as its name with a short hash.
func shortPackage(p string) string {
	b := path.Base(p)
	if h, name, ok := strings.Cut(b, "-"); ok && len(h) > 8 {
		return h[:8] + "…-" + name
	}
	return b
}

func printStatus(w io.Writer, st StatusJSON) {
	if len(st.Apps) == 0 {
		fmt.Fprintf(w, "no apps on %s\n", st.Host)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tGEN\tPACKAGE\tSTATE\tHEALTH\tPORTS\tDEPLOYED\tBY")
	for _, a := range st.Apps {
		state, health, ports := "no container", "-", "-"
		if c := a.Container; c != nil {
			state = c.State
			if c.RestartCount > 0 {
				state += fmt.Sprintf(" (%d restarts)", c.RestartCount)
			}
			if c.Generation != a.Generation {
				state += fmt.Sprintf(" (gen %d)", c.Generation)
			}
			if c.Health != "" {
				health = c.Health
			}
			if len(c.Ports) > 0 {
				ports = strings.Join(c.Ports, ",")
			}
		}
		gen := fmt.Sprint(a.Generation)
		for _, g := range a.Generations {
			if g.Current && g.RollbackOf != 0 {
				gen += fmt.Sprintf(" (=%d)", g.RollbackOf)
			}
		}
		if a.Error != "" {
			gen = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.App, gen, shortPackage(a.Package), state, health, ports, a.DeployedAt, a.PushedBy)
	}
	tw.Flush()
	for _, a := range st.Apps {
		if a.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", a.App, a.Error)
		}
		if c := a.Container; c != nil && c.Draining != nil {
			fmt.Fprintf(w, "%s: live container %.12s (gen %d); draining %.12s (gen %d, %s) finishes its open connections\n",
				a.App, c.ID, c.Generation, c.Draining.ID, c.Draining.Generation, c.Draining.State)
		}
	}
}

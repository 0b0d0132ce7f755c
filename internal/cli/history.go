package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/spf13/cobra"
)

// historyOptions are nd-push history's flags and arguments.
type historyOptions struct {
	ssh       sshFlags
	JSON      bool
	Host, App string
}

func newHistoryCmd(env *Env) *cobra.Command {
	o := &historyOptions{}
	c := hostCmd("history [flags] HOST APP", "list an app's kept generations: package, time, who, mode",
		hostArgs(2, 2), &o.ssh, func(cmd *cobra.Command, args []string) error {
			o.Host, o.App = args[0], args[1]
			return runHistory(cmd.Context(), env, o)
		})
	c.Flags().BoolVar(&o.JSON, "json", false, "print the generations as JSON, as in status --json")
	return c
}

// runHistory prints the generations the agent keeps for the app, newest
// first (as rollback picks from them). It reads the same report as status.
func runHistory(ctx context.Context, env *Env, o *historyOptions) error {
	st, err := fetchStatus(ctx, env, &o.ssh, o.Host, o.App)
	if err != nil {
		return err
	}
	gens := st.Apps[0].Generations
	if o.JSON {
		return printJSON(env.Stdout, gens)
	}
	printHistory(env.Stdout, gens)
	return nil
}

func printHistory(w io.Writer, gens []GenerationJSON) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GEN\tPACKAGE\tDEPLOYED\tBY\tMODE\t")
	for i := len(gens) - 1; i >= 0; i-- {
		g := gens[i]
		num := fmt.Sprint(g.Number)
		if g.Current {
			num += " *"
		}
		note := ""
		if g.RollbackOf != 0 {
			note = fmt.Sprintf("rollback to %d", g.RollbackOf)
		}
		mode := g.Mode
		if mode == "" {
			mode = manifest.ModeHostStore
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", num, shortPackage(g.Package), g.DeployedAt, g.PushedBy, mode, note)
	}
	tw.Flush()
}

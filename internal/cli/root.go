package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/proto"
)

// Command groups, in the order help lists them.
const (
	groupDeploy  = "deploy"
	groupOperate = "operate"
	groupOther   = "other"
)

// newRootCmd builds nd-push's command tree. The root itself runs the
// shorthand `nd-push [flags] HOST... CONFIG` (= deploy), so it carries
// deploy's flags: cobra then also knows which of them take a value when it
// looks past them for a subcommand (`nd-push -F cfg status droplet`).
func newRootCmd(env *Env) *cobra.Command {
	o := &pushOptions{}
	root := &cobra.Command{
		Use:   "nd-push [flags] [user@]host... CONFIG",
		Short: "deploy Nix-built apps to Docker hosts over SSH",
		Long: `nd-push builds CONFIG (a config.nix, a directory holding one, a flake's
FLAKE#NAME, or a deploy package /nix/store/...-nd-APP) and deploys it to each
host, where nd-agent runs it in Docker. 'nd-push HOST... CONFIG' is short for 'nd-push deploy HOST... CONFIG'.`,
		Example: `  nd-push root@droplet config.nix
  nd-push -F ssh_config web1 web2 ./app
  nd-push status droplet
  nd-push logs -f droplet hello`,
		Version: Version,
		// cobra's own default, which SuggestionsFor alone does not apply.
		SuggestionsMinimumDistance: 2,
		Args:                       cobra.ArbitraryArgs,
		SilenceErrors:              true,
		SilenceUsage:               true,
		ValidArgsFunction:          cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				cmd.SetOut(env.Stderr)
				cmd.Usage()
			}
			if err := shorthand(cmd, args); err != nil {
				return err
			}
			if o.Project != "" || len(o.On) > 0 {
				return usagef("--project and --on belong to 'nd-push deploy' with no hosts")
			}
			if err := o.setArgs(args); err != nil {
				return err
			}
			return runPush(cmd.Context(), env, o)
		},
	}
	root.SetVersionTemplate(fmt.Sprintf("nd-push {{.Version}} (agent protocol %d)\n", proto.Version))
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetIn(env.Stdin)
	o.register(root.Flags())
	// A project is deployed by `nd-push deploy` alone; the shorthand has hosts.
	root.Flags().MarkHidden("project")
	root.Flags().MarkHidden("on")
	root.AddGroup(
		&cobra.Group{ID: groupDeploy, Title: "Deploy:"},
		&cobra.Group{ID: groupOperate, Title: "Operate deployed apps:"},
		&cobra.Group{ID: groupOther, Title: "Other commands:"},
	)
	root.SetHelpCommandGroupID(groupOther)
	root.SetCompletionCommandGroupID(groupOther)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupDeploy, newDeployCmd(env), newBuildCmd(env), newInstallAgentCmd(env))
	add(groupOperate, newStatusCmd(env), newHistoryCmd(env), newLogsCmd(env), newExecCmd(env),
		newRestartCmd(env), newStopCmd(env), newStartCmd(env), newRollbackCmd(env), newRmCmd(env))
	add(groupOther, newOptionsCmd(env), newVersionCmd(env))
	setHelp(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if !c.HasParent() {
			return usagef("%v", err)
		}
		return usagef("%s: %v", c.Name(), err)
	})
	return root
}

// shorthand checks that the root's arguments are `HOST... CONFIG`: a first
// word that is no command is a host only if the last argument is something
// to deploy (nixbuild.RefKind decides that, for every command).
func shorthand(root *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usagef("missing arguments: want a command, or HOST... CONFIG to deploy")
	}
	if last := args[len(args)-1]; !nixbuild.IsConfigRef(last) {
		return unknownCommand(root, args[0], last)
	}
	return nil
}

// unknownCommand is the error for `nd-push WORD ... LAST` where WORD is no
// command and LAST nothing to deploy: most likely a mistyped command.
func unknownCommand(root *cobra.Command, word, last string) error {
	msg := fmt.Sprintf("unknown command %q", word)
	if s := nearest(word, root.SuggestionsFor(word)); len(s) > 0 {
		return usagef("%s; did you mean %s?", msg, quoteJoin(s, " or "))
	}
	return usagef("%s, and %q is no config, flake reference or package path to deploy "+
		"(to deploy: nd-push HOST... CONFIG; commands: nd-push --help)", msg, last)
}

// nearest keeps the candidates (cobra's suggestions: within distance 2, or
// starting with word) closest to word, counting a swap of two neighbouring
// letters as one edit, so "stauts" gets "status", not also "start".
func nearest(word string, cands []string) []string {
	best, res := -1, []string(nil)
	for _, c := range cands {
		d := editDistance(word, c)
		if strings.HasPrefix(c, word) {
			d = 0
		}
		switch {
		case best < 0 || d < best:
			best, res = d, []string{c}
		case d == best:
			res = append(res, c)
		}
	}
	return res
}

// editDistance is the optimal string alignment distance of a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func quoteJoin(s []string, sep string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, sep)
}

// hostArgs validates positional arguments, naming what the command wants
// when the count is wrong (cobra's own messages say only numbers).
func hostArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return usagef("%s: want %s, got %d arguments", cmd.Name(), argsOf(cmd), len(args))
		}
		return nil
	}
}

// argsOf is the argument part of a command's Use line.
func argsOf(cmd *cobra.Command) string {
	_, a, _ := strings.Cut(cmd.Use, " ")
	return strings.TrimSpace(strings.ReplaceAll(a, "[flags]", ""))
}

// hostCmd makes a command that works on one host: it takes the ssh flags.
func hostCmd(use, short string, args cobra.PositionalArgs, ssh *sshFlags, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: args, RunE: run, ValidArgsFunction: hostCompletion}
	ssh.register(c.Flags())
	return c
}

// hostCompletion offers no file names for hosts and apps: listing either
// would need a connection, which a shell completion should not open.
func hostCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveNoFileComp
}

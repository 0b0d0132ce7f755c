package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageTemplate is cobra's default with the ssh flags under a heading of
// their own, as ssh(1)-like flags are shared by every host command.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} COMMAND [flags] ARGS...{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{$own := ownFlags .LocalFlags}}{{if $own}}

Flags:
{{$own}}{{end}}{{$ssh := sshFlagUsages .LocalFlags}}{{if $ssh}}

SSH flags (before or after the command):
{{$ssh}}{{end}}{{if .HasAvailableSubCommands}}

Run '{{.CommandPath}} COMMAND --help' for more about a command.{{end}}
`

func init() {
	cobra.AddTemplateFunc("ownFlags", func(fs *pflag.FlagSet) string { return flagUsages(fs, false) })
	cobra.AddTemplateFunc("sshFlagUsages", func(fs *pflag.FlagSet) string { return flagUsages(fs, true) })
}

// flagUsages renders the flags of fs that are (ssh) or are not ssh flags.
func flagUsages(fs *pflag.FlagSet, ssh bool) string {
	sub := pflag.NewFlagSet("", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if _, isSSH := f.Annotations[flagGroup]; isSSH == ssh {
			sub.AddFlag(f)
		}
	})
	return strings.TrimRight(sub.FlagUsages(), " \n")
}

// setHelp installs the usage template on the whole tree; every --help (and
// `nd-push help COMMAND`) prints to stdout and exits 0.
func setHelp(root *cobra.Command) {
	root.SetUsageTemplate(usageTemplate)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		switch c.Name() {
		case "help":
			c.Short = "show help for nd-push or a command"
		case "completion":
			c.Short = "print a shell completion script: bash, zsh, fish or powershell"
		}
		c.InitDefaultHelpFlag()
		c.Flags().Lookup("help").Usage = "show this help"
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	root.InitDefaultVersionFlag()
	root.Flags().Lookup("version").Usage = "print nd-push's version"
}

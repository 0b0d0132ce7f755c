package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nd-project/nd/internal/proto"
)

// Version is nd's version, set at link time with
// -ldflags "-X github.com/nd-project/nd/internal/cli.Version=...".
var Version = "dev"

func newVersionCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print nd-push's version and agent protocol",
		Args:  hostArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(env.Stdout, "nd-push %s (agent protocol %d)\n", Version, proto.Version)
			return nil
		},
	}
}

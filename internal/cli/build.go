package cli

import "context"

// runBuildCmd is filled in by the modules work (nd-push build).
func runBuildCmd(ctx context.Context, env *Env, args []string) error {
	return usagef("build: not implemented yet")
}

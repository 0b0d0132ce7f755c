package cli

import "context"

func runPushCmd(ctx context.Context, env *Env, args []string) error {
	return usagef("push: not implemented yet")
}

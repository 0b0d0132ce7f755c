// Command nd-push builds a config.nix into a deploy package and deploys it to
// Docker hosts over SSH. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nd-project/nd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

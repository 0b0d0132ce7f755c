// Command nd-agent is nd's daemon on each host; see internal/agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nd-project/nd/internal/agent"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := agent.Main(ctx, agent.Program{
		Version: version, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		NewRuntime: newRuntime,
	}, os.Args[1:])
	stop()
	os.Exit(code)
}

// Command nd-init is PID 1 of nd containers: it runs the processes of a
// manifest.Processes file under internal/supervise, forwards signals, reaps
// zombies and prefixes every output line with the process's name. The
// container has no shell or curl, so nd-init also answers Docker health
// checks (probe-http).
//
// Usage:
//
//	nd-init PROCESSES.json            supervise (exit status: see below)
//	nd-init probe-http PORT [PATH]    0 if GET http://127.0.0.1:PORT/PATH answers 2xx/3xx
//	nd-init probe-ready [-wait D]     0 once every oneshot succeeded and every
//	                                  process stayed up for its startsecs or
//	                                  listens, else 1 (after waiting up to D)
//	nd-init version
//
// Exit status of supervising: 0 after a stop asked for by SIGTERM/SIGINT/SIGQUIT
// or when every process exited 0 for good; a failed oneshot's status, a FATAL
// process's last status (1 if that was 0), or the first non-zero status of a
// process that was not restarted (128+N for signal N); 126/127 when a program
// cannot be executed / is missing; 2 for a bad processes file or user.
//
// Build it static: CGO_ENABLED=0 go build -ldflags='-s -w -X main.version=V'.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/nd-project/nd/internal/supervise"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: nd-init PROCESSES.json | probe-http PORT [PATH] | probe-ready | version")
		return supervise.ExitConfig
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "probe-http":
		return runProbeHTTP(args[1:], probeOptions{}, stdout, stderr)
	case "probe-ready":
		return probeReady(supervise.ReadyFile, args[1:], stdout, stderr)
	}
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: nd-init PROCESSES.json | probe-http PORT [PATH] | probe-ready | version")
		return supervise.ExitConfig
	}
	// PID 1 forwards signals rather than cancelling a context: the processes
	// must get the very signal (TERM, INT, HUP, ...) that arrived.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(append([]os.Signal{}, supervise.StopSignals...), supervise.PassSignals...)...)
	defer signal.Stop(sigs)
	return runSupervise(context.Background(), args[0], supervise.Options{
		Signals: sigs, Stdout: stdout, Stderr: stderr, ReadyFile: supervise.ReadyFile,
	})
}

// runSupervise loads the processes file and supervises until the container ends.
func runSupervise(ctx context.Context, file string, opts supervise.Options) int {
	procs, err := supervise.Load(file)
	if err != nil {
		fmt.Fprintf(opts.Stderr, "nd-init | %v\n", err)
		return supervise.ExitConfig
	}
	err = supervise.Run(ctx, procs, opts)
	code := supervise.ExitCode(err)
	if err != nil && code == supervise.ExitConfig {
		fmt.Fprintf(opts.Stderr, "nd-init | %v\n", err)
	}
	return code
}

// probeReady answers deploys waiting for the processes to start: "ready"
// and 0 when file exists, "starting" and 1 when not (yet), 2 for bad
// arguments. With -wait D it answers as soon as file appears, or after D:
// one exec then tells a deploy the moment its container is ready. The word
// matters: a caller cannot tell an exit status 0 from an exec that never ran.
func probeReady(file string, args []string, stdout, stderr io.Writer) int {
	var wait time.Duration
	switch {
	case len(args) == 0:
	case len(args) == 2 && args[0] == "-wait":
		d, err := time.ParseDuration(args[1])
		if err == nil && d >= 0 && d <= time.Minute {
			wait = d
			break
		}
		fallthrough
	default:
		fmt.Fprintln(stderr, "usage: nd-init probe-ready [-wait DURATION]")
		return supervise.ExitConfig
	}
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat(file); err == nil {
			fmt.Fprintln(stdout, "ready")
			return 0
		}
		if !time.Now().Before(deadline) {
			fmt.Fprintln(stdout, "starting")
			return 1
		}
		time.Sleep(readyCheck)
	}
}

// readyCheck is how often probe-ready -wait looks for the ready file.
const readyCheck = 10 * time.Millisecond

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"syscall"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// errProblems makes nd-agent check exit 1: problems remain.
var errProblems = errors.New("problems remain")

type checkOptions struct {
	socket, state, storeRoot string
	repair, json             bool
}

// runCheck is `nd-agent check [--repair]`: it asks the running agent, which
// checks each app under its lock; with no agent running it checks directly.
func runCheck(ctx context.Context, p Program, args []string) error {
	var o checkOptions
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(p.Stderr)
	fs.StringVar(&o.socket, "socket", DefaultSocket, "the agent's unix socket")
	fs.StringVar(&o.state, "state", DefaultStateDir, "state directory (when no agent runs)")
	fs.StringVar(&o.storeRoot, "store-root", "", "chroot Nix store (tests; when no agent runs)")
	fs.BoolVar(&o.repair, "repair", false, "repair what can be repaired")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() != 0 {
		return usageError("check takes no arguments")
	}
	rep, err := askCheck(ctx, o.socket, o.repair)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		fmt.Fprintf(p.Stderr, "nd-agent is not serving on %s; checking directly\n", o.socket)
		var rt Runtime
		if p.NewRuntime != nil {
			if rt, err = p.NewRuntime(ctx, RuntimeConfig{StoreRoot: o.storeRoot}); err != nil {
				fmt.Fprintf(p.Stderr, "no container runtime (%v): containers and images are not checked\n", err)
				rt = nil
			}
		}
		a := New(Config{StateDir: o.state, Store: &nixstore.Store{Root: o.storeRoot}, Runtime: rt, NDVersion: p.Version})
		rep, err = a.Check(ctx, o.repair), nil
	}
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(p.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printCheck(p, rep, o.repair)
	}
	for _, f := range rep.Findings {
		if f.Repaired == "" {
			return errProblems
		}
	}
	return nil
}

func printCheck(p Program, rep proto.CheckReport, repair bool) {
	open := 0
	for _, f := range rep.Findings {
		who := f.App
		if who == "" {
			who = "host"
		}
		if f.Repaired != "" {
			fmt.Fprintf(p.Stdout, "%s: %s\n  repaired: %s\n", who, f.Problem, f.Repaired)
		} else {
			open++
			fmt.Fprintf(p.Stdout, "%s: %s\n", who, f.Problem)
		}
	}
	switch {
	case len(rep.Findings) == 0:
		fmt.Fprintf(p.Stdout, "%d apps checked: state, GC roots, store paths, images and containers agree\n", rep.Apps)
	case open == 0:
		fmt.Fprintf(p.Stdout, "%d apps checked: everything found was repaired\n", rep.Apps)
	case !repair:
		fmt.Fprintf(p.Stdout, "%d apps checked: %d problems; `nd-agent check --repair` repairs what it can\n", rep.Apps, open)
	default:
		fmt.Fprintf(p.Stdout, "%d apps checked: %d problems need a person (see above)\n", rep.Apps, open)
	}
}

// askCheck asks the agent on socket for a check.
func askCheck(ctx context.Context, socket string, repair bool) (proto.CheckReport, error) {
	d := agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	})
	cl := agentclient.New(d, agentclient.Options{Host: socket})
	defer cl.Close()
	rep, err := cl.Check(ctx, repair)
	if err != nil {
		return rep, fmt.Errorf("nd-agent check: %w", err)
	}
	return rep, nil
}

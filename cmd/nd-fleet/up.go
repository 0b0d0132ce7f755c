package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/nd-project/nd/internal/fleet"
)

type upOptions struct {
	noNix, noDocker, noStreamLocal bool
	kind, nixLayout                string
	containerdStore                bool
	rate                           string
	n                              int
	names                          []string
}

func cmdUp(ctx context.Context, args []string, stdout io.Writer) error {
	var o upOptions
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.noNix, "no-nix", false, "no Nix store in the droplets")
	fs.BoolVar(&o.noDocker, "no-docker", false, "no dockerd in the droplets")
	fs.BoolVar(&o.noStreamLocal, "no-streamlocal", false, "sshd refuses stream-local forwarding")
	fs.StringVar(&o.kind, "kind", string(fleet.Bookworm), "droplet kind: bookworm or modern (Debian sid booted with systemd)")
	fs.BoolVar(&o.containerdStore, "containerd-store", false, "modern: Docker's containerd image store")
	fs.StringVar(&o.nixLayout, "nix-layout", "", "modern: where Nix is, debian (/usr/bin, the default) or installer (/nix/var/nix/profiles/default/bin)")
	fs.StringVar(&o.rate, "rate", "", "shape the link to the droplets (tc rate, e.g. 200mbit)")
	fs.IntVar(&o.n, "n", 0, "number of droplets (names NAME-1..N, or droplet-1..N without NAME)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	o.names = fs.Args()
	return runUp(ctx, o, stdout)
}

// dropletNames turns the NAME arguments and -n into the droplets' names.
func dropletNames(names []string, n int) ([]string, error) {
	switch {
	case n < 0:
		return nil, usageError{"-n must be positive"}
	case n == 0 && len(names) == 0:
		return []string{"droplet-1"}, nil
	case n == 0 || (n == len(names) && n != 1):
		return names, nil
	case len(names) > 1:
		return nil, usageError{"give either several NAMEs or -n N with at most one NAME"}
	}
	base := "droplet"
	if len(names) == 1 {
		base = names[0]
		if n == 1 {
			return names, nil
		}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", base, i+1)
	}
	return out, nil
}

func runUp(ctx context.Context, o upOptions, stdout io.Writer) error {
	names, err := dropletNames(o.names, o.n)
	if err != nil {
		return err
	}
	f, err := fleet.StartNamed(ctx, names, fleet.Options{
		Kind:                    fleet.Kind(o.kind),
		ContainerdStore:         o.containerdStore,
		NixLayout:               fleet.NixLayout(o.nixLayout),
		Nix:                     !o.noNix,
		NoDocker:                o.noDocker,
		NoStreamLocalForwarding: o.noStreamLocal,
		Rate:                    o.rate,
		Keep:                    true,
	})
	if err != nil {
		return err
	}
	for _, d := range f.Droplets() {
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", d.Name, d.Addr, d.SSHConfig())
	}
	return nil
}

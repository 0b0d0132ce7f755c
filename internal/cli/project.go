package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nd-project/nd/internal/nixcmd"
)

// ProjectFile is what `nd-push deploy` with no hosts and no CONFIG reads
// from the current directory (or --project FILE): the deployments of a
// project, written once, in Nix, beside the configs:
//
//	{
//	  nixpkgs = ./nixpkgs;        # optional, for every deployment (like --nixpkgs)
//	  deployments.web = {
//	    hosts = [ "root@web1" "root@web2" ];
//	    tags = [ "web" ];          # nd-push deploy --on @web
//	    configuration = ./web;     # a config.nix, or a directory holding one
//	  };
//	}
const ProjectFile = "nd.nix"

// deployment is one entry of a project file, paths made absolute.
type deployment struct {
	Name          string   `json:"name"`
	Hosts         []string `json:"hosts"`
	Tags          []string `json:"tags"`
	Configuration string   `json:"configuration"`
	Nixpkgs       string   `json:"nixpkgs"`
	ExtraPkgs     string   `json:"extraPkgs"`
}

// projectExpr reads a project file with Nix. toString keeps paths where
// they are (toJSON would copy them into the store, away from the files a
// config refers to), and unknown attributes are errors so a typo is not
// silently a deployment without hosts.
const projectExpr = `{ file }:
let
  p = import file;
  where = toString file;
  str = v: if v == null then "" else toString v;
  known = [ "hosts" "tags" "configuration" "nixpkgs" "extraPkgs" ];
  check = name: d:
    let bad = builtins.filter (a: !(builtins.elem a known)) (builtins.attrNames d); in
    if bad != [ ] then throw "${where}: deployment ${name} has unknown attribute ${builtins.head bad} (known: ${toString known})"
    else if !(d ? configuration) then throw "${where}: deployment ${name} has no configuration"
    else d;
  dep = name: d0: let d = check name d0; in {
    inherit name;
    hosts = d.hosts or [ ];
    tags = d.tags or [ ];
    configuration = str d.configuration;
    nixpkgs = str (d.nixpkgs or p.nixpkgs or null);
    extraPkgs = str (d.extraPkgs or p.extraPkgs or null);
  };
  deps = p.deployments or (throw "${where} has no deployments");
in map (n: dep n deps.${n}) (builtins.attrNames deps)
`

// loadProject evaluates a project file and checks what it says.
func loadProject(ctx context.Context, file string) ([]deployment, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("reading project %s: %w", file, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, usagef("reading project: %v", err)
	}
	out, err := nixcmd.Runner(nil).Output(ctx, nil, "nix-instantiate", "--eval", "--strict", "--json",
		"--option", "substituters", "", "--expr", projectExpr, "--arg", "file", abs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := nixcmd.Stderr(err)
		if msg == "" {
			return nil, fmt.Errorf("reading project %s: %w", file, err)
		}
		if i := strings.LastIndex(msg, "error: "); i >= 0 {
			msg = msg[i+len("error: "):]
		}
		return nil, fmt.Errorf("reading project %s: %s", file, msg)
	}
	var deps []deployment
	if err := json.Unmarshal(out, &deps); err != nil {
		return nil, fmt.Errorf("reading project %s: %w", file, err)
	}
	dir := filepath.Dir(abs)
	for i := range deps {
		d := &deps[i]
		if len(d.Hosts) == 0 {
			return nil, usagef("project %s: deployment %s has no hosts", file, d.Name)
		}
		for _, p := range []*string{&d.Configuration, &d.Nixpkgs, &d.ExtraPkgs} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p) // a string, relative to the project file
			}
		}
	}
	return deps, nil
}

// selectHosts keeps the hosts of d that the --on selectors name: @TAG (the
// deployment's tags), a deployment's name, or a host. No selector: all.
func selectHosts(d deployment, on []string) []string {
	if len(on) == 0 {
		return d.Hosts
	}
	var hosts []string
	for _, h := range d.Hosts {
		for _, s := range on {
			tag, isTag := strings.CutPrefix(s, "@")
			if (isTag && slices.Contains(d.Tags, tag)) || s == d.Name || s == h {
				hosts = append(hosts, h)
				break
			}
		}
	}
	return hosts
}

// runProject deploys every deployment of the project file (those --on
// selects), one after the other, each built once and pushed to its hosts in
// parallel; a failed deployment does not stop the next.
func runProject(ctx context.Context, env *Env, o *pushOptions) error {
	file := o.Project
	if file == "" {
		file = ProjectFile
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return usagef("deploy: want HOST... CONFIG, or a project file %s here (or --project FILE) to deploy with no arguments", ProjectFile)
		}
	}
	deps, err := loadProject(ctx, file)
	if err != nil {
		return err
	}
	var failed, ran []string
	for _, d := range deps {
		hosts := selectHosts(d, o.On)
		if len(hosts) == 0 {
			continue
		}
		po := pushOptions{ssh: o.ssh, build: o.build, ImageMode: o.ImageMode, Force: o.Force,
			NoSubstitute: o.NoSubstitute, BuildOnTarget: o.BuildOnTarget, progress: o.progress}
		po.Hosts, po.build.Config = hosts, d.Configuration
		if po.build.Nixpkgs == "" {
			po.build.Nixpkgs = d.Nixpkgs
		}
		if po.build.Extra == "" {
			po.build.Extra = d.ExtraPkgs
		}
		if !o.progress.Quiet && !o.progress.JSON {
			fmt.Fprintf(env.Stderr, "deployment %s: %s\n", d.Name, strings.Join(hosts, " "))
		}
		ran = append(ran, d.Name)
		if err := runPush(ctx, env, &po); err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "nd-push: deployment %s: %v\n", d.Name, err)
			failed = append(failed, d.Name)
		}
	}
	if len(ran) == 0 {
		return usagef("--on %s selects no host of %s", strings.Join(o.On, ","), file)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d deployments failed: %s", len(failed), len(ran), strings.Join(failed, ", "))
	}
	return nil
}

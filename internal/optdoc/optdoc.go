// Package optdoc is the reference of the options users set in config.nix,
// read from nd's modules' own declarations: modules/options-doc.nix
// evaluates them with the module system and lists every option with its
// type, default, example and description. nd-push options prints it and
// docs/options.md is generated from it (a test keeps that file current).
// Only internal/cli and tests import it.
package optdoc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/nd-project/nd/internal/nixcmd"
	"github.com/nd-project/nd/modules"
)

// Option is one declared option.
type Option struct {
	Name        string   `json:"name"` // docker.ports, supervisord.services.<name>.command
	Type        string   `json:"type"` // the type's description, as NixOS prints it
	Description string   `json:"description"`
	Default     *string  `json:"default"` // Nix text; nil: none (the option must be set)
	Example     *string  `json:"example"`
	DeclaredIn  []string `json:"declaredIn"` // module files
}

// Load evaluates the embedded modules (written to cacheDir, "" for the
// default cache) with nix-instantiate and nixpkgs' lib at libDir (the
// directory holding its default.nix; nixbuild.ResolveNixpkgs finds it) and
// returns their options by name.
func Load(ctx context.Context, cacheDir, libDir string) ([]Option, error) {
	dir, err := modules.Extract(cacheDir)
	if err != nil {
		return nil, err
	}
	out, err := nixcmd.Runner(nil).Output(ctx, nil, "nix-instantiate", "--eval", "--strict", "--json",
		"--option", "substituters", "", filepath.Join(dir, "options-doc.nix"), "--arg", "lib", libDir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("evaluating the modules' options (is Nix installed?): %w", err)
	}
	var opts []Option
	if err := json.Unmarshal(out, &opts); err != nil {
		return nil, fmt.Errorf("reading the modules' options: %w", err)
	}
	return opts, nil
}

// Filter keeps the options whose name is prefix or starts with prefix + ".".
func Filter(opts []Option, prefix string) []Option {
	prefix = strings.TrimSuffix(prefix, ".")
	if prefix == "" {
		return opts
	}
	var res []Option
	for _, o := range opts {
		if o.Name == prefix || strings.HasPrefix(o.Name, prefix+".") {
			res = append(res, o)
		}
	}
	return res
}

// WriteText prints opts for a terminal: each name, then its facts indented.
func WriteText(w io.Writer, opts []Option) {
	for i, o := range opts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, o.Name)
		fmt.Fprintf(w, "    type:     %s\n", o.Type)
		if o.Default != nil {
			fmt.Fprintf(w, "    default:  %s\n", *o.Default)
		} else {
			fmt.Fprintf(w, "    default:  none: must be set\n")
		}
		if o.Example != nil {
			fmt.Fprintf(w, "    example:  %s\n", *o.Example)
		}
		fmt.Fprintf(w, "    declared: %s\n", strings.Join(o.DeclaredIn, ", "))
		if o.Description != "" {
			fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(strings.TrimSpace(o.Description), "\n", "\n    "))
		}
	}
}

// WriteMarkdown writes docs/options.md: a section per top-level group and
// an entry per option.
func WriteMarkdown(w io.Writer, opts []Option) {
	fmt.Fprint(w, `# config.nix options

Generated from the declarations in modules/ by `+"`nd-push options`"+`'s source
(modules/options-doc.nix); do not edit. Refresh with
`+"`go test ./internal/optdoc -run TestOptionsDoc -update`"+`; a test fails
when this file is not current.

Values are Nix text. `+"`<name>`"+` stands for an attribute name you choose.
`)
	group := ""
	for _, o := range opts {
		g := o.Name
		if i := strings.Index(g, "."); i > 0 {
			g = g[:i]
			if strings.HasPrefix(o.Name, "services.") {
				g = strings.Join(strings.SplitN(o.Name, ".", 3)[:2], ".")
			}
		}
		if g != group {
			group = g
			fmt.Fprintf(w, "\n## %s\n", g)
		}
		fmt.Fprintf(w, "\n### `%s`\n\n", o.Name)
		if o.Description != "" {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(o.Description))
		}
		fmt.Fprintf(w, "- type: %s\n", o.Type)
		if o.Default != nil {
			fmt.Fprintf(w, "- default: `%s`\n", *o.Default)
		} else {
			fmt.Fprintf(w, "- default: none (must be set)\n")
		}
		if o.Example != nil {
			fmt.Fprintf(w, "- example: `%s`\n", *o.Example)
		}
		fmt.Fprintf(w, "- declared in: %s\n", strings.Join(o.DeclaredIn, ", "))
	}
}

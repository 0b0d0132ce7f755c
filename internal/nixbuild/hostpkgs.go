package nixbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// HostPackage names host programs to import into the store as one package of
// pkgs (offline builds have no redis, httpd, ...): Programs maps a name in
// the package's bin/ to a host executable.
type HostPackage struct {
	Attr     string            // pkgs attribute, e.g. "redis"
	Programs map[string]string // e.g. "redis-server" -> "/usr/bin/redis-server"
}

// WriteHostPackages writes file, a Nix function pkgs -> { attr = drv; } for
// Options.ExtraPkgs, making each HostPackage with pkgs.importHostProgram from
// the programs and the libraries ldd lists for them. The result is tied to
// this host's files: it is meant for tests and demos without nixpkgs.
func WriteHostPackages(ctx context.Context, r Runner, file string, pkgs []HostPackage) error {
	if r == nil {
		r = ExecRunner{}
	}
	var b strings.Builder
	b.WriteString("# Written by nixbuild.WriteHostPackages: host programs for the offline pkgs.\npkgs: {\n")
	for _, hp := range pkgs {
		names := make([]string, 0, len(hp.Programs))
		for n := range hp.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		libs := map[string]string{} // soname -> real path
		var interp [2]string
		fmt.Fprintf(&b, "  %s = pkgs.importHostProgram {\n    name = %s;\n    programs = [\n", hp.Attr, strconv.Quote(hp.Attr))
		for _, n := range names {
			real, err := filepath.EvalSymlinks(hp.Programs[n])
			if err != nil {
				return fmt.Errorf("importing host program %s: %w", n, err)
			}
			fmt.Fprintf(&b, "      { name = %s; path = %s; }\n", strconv.Quote(n), nixPath(real))
			var out, errb bytes.Buffer
			if err := r.Run(ctx, &out, &errb, "ldd", real); err != nil {
				return fmt.Errorf("listing libraries of %s: %w: %s", real, err, strings.TrimSpace(errb.String()))
			}
			for _, line := range strings.Split(out.String(), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
					p, err := filepath.EvalSymlinks(f[2])
					if err != nil {
						return fmt.Errorf("resolving %s: %w", f[2], err)
					}
					libs[f[0]] = p
				case len(f) == 2 && strings.HasPrefix(f[0], "/"):
					p, err := filepath.EvalSymlinks(f[0])
					if err != nil {
						return fmt.Errorf("resolving %s: %w", f[0], err)
					}
					interp = [2]string{filepath.Base(f[0]), p}
				}
			}
		}
		if interp[0] == "" {
			return fmt.Errorf("importing %s: ldd names no program interpreter (static programs need no import)", hp.Attr)
		}
		b.WriteString("    ];\n    libs = [\n")
		sonames := make([]string, 0, len(libs))
		for s := range libs {
			sonames = append(sonames, s)
		}
		sort.Strings(sonames)
		for _, s := range sonames {
			fmt.Fprintf(&b, "      { name = %s; path = %s; }\n", strconv.Quote(s), nixPath(libs[s]))
		}
		fmt.Fprintf(&b, "    ];\n    interpreter = { name = %s; path = %s; };\n  };\n", strconv.Quote(interp[0]), nixPath(interp[1]))
	}
	b.WriteString("}\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing host packages: %w", err)
	}
	return nil
}

// nixPath renders an absolute path as a Nix path literal, or as
// /. + "/path" when it holds characters a literal cannot.
func nixPath(p string) string {
	for _, c := range p {
		if !(c == '/' || c == '.' || c == '-' || c == '_' || c == '+' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "(/. + " + strconv.Quote(p) + ")"
		}
	}
	return p
}

package nixbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nd-project/nd/internal/nixcmd"
)

// HostPackage names host programs to import into the store as one package of
// pkgs (offline builds have no redis, httpd, ...): Programs maps a name in
// the package's bin/ to a host executable. Files maps a path in the package
// to a host file copied there, to give the package the layout a module
// expects of nixpkgs' package (e.g. "modules/mod_dir.so" or
// "conf/mime.types"); the libraries of the shared objects among them are
// imported too, so the programs can dlopen them with nothing but the store.
type HostPackage struct {
	Attr     string            // pkgs attribute, e.g. "redis"
	Programs map[string]string // e.g. "redis-server" -> "/usr/bin/redis-server"
	Files    map[string]string // e.g. "modules/mod_dir.so" -> "/usr/lib/apache2/modules/mod_dir.so"
}

// WriteHostPackages writes file, a Nix function pkgs -> { attr = drv; } for
// Options.ExtraPkgs, making each HostPackage with pkgs.importHostProgram from
// the programs, the files and the libraries ldd lists for the programs and
// the files that are ELF objects. The result is tied to this host's files:
// it is meant for tests and demos without nixpkgs.
func WriteHostPackages(ctx context.Context, r nixcmd.Runner, file string, pkgs []HostPackage) error {
	var b strings.Builder
	b.WriteString("# Written by nixbuild.WriteHostPackages: host programs for the offline pkgs.\npkgs: {\n")
	for _, hp := range pkgs {
		deps := hostDeps{libs: map[string]string{}}
		fmt.Fprintf(&b, "  %s = pkgs.importHostProgram {\n    name = %s;\n    programs = [\n", hp.Attr, strconv.Quote(hp.Attr))
		for _, n := range sortedKeys(hp.Programs) {
			real, err := filepath.EvalSymlinks(hp.Programs[n])
			if err != nil {
				return fmt.Errorf("importing host program %s: %w", n, err)
			}
			fmt.Fprintf(&b, "      { name = %s; path = %s; }\n", strconv.Quote(n), nixPath(real))
			if err := deps.add(ctx, r, real); err != nil {
				return err
			}
		}
		b.WriteString("    ];\n")
		if len(hp.Files) > 0 {
			b.WriteString("    files = [\n")
			for _, n := range sortedKeys(hp.Files) {
				if n == "" || filepath.IsAbs(n) || filepath.Clean(n) != n || strings.HasPrefix(n, "..") {
					return fmt.Errorf("importing %s: file name %q is not a clean relative path", hp.Attr, n)
				}
				real, err := filepath.EvalSymlinks(hp.Files[n])
				if err != nil {
					return fmt.Errorf("importing host file %s: %w", n, err)
				}
				fmt.Fprintf(&b, "      { name = %s; path = %s; }\n", strconv.Quote(n), nixPath(real))
				elf, err := isELF(real)
				if err != nil {
					return fmt.Errorf("importing host file %s: %w", n, err)
				}
				if elf {
					if err := deps.add(ctx, r, real); err != nil {
						return err
					}
				}
			}
			b.WriteString("    ];\n")
		}
		if deps.interp[0] == "" {
			return fmt.Errorf("importing %s: ldd names no program interpreter (static programs need no import)", hp.Attr)
		}
		b.WriteString("    libs = [\n")
		for _, s := range sortedKeys(deps.libs) {
			fmt.Fprintf(&b, "      { name = %s; path = %s; }\n", strconv.Quote(s), nixPath(deps.libs[s]))
		}
		fmt.Fprintf(&b, "    ];\n    interpreter = { name = %s; path = %s; };\n  };\n", strconv.Quote(deps.interp[0]), nixPath(deps.interp[1]))
	}
	b.WriteString("}\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing host packages: %w", err)
	}
	return nil
}

// hostDeps collects what ldd lists for a package's programs and objects.
type hostDeps struct {
	libs   map[string]string // soname -> real path
	interp [2]string         // name, real path of the program interpreter
}

// add runs ldd on the ELF object real and records its libraries and loader.
func (d *hostDeps) add(ctx context.Context, r nixcmd.Runner, real string) error {
	out, err := r.Output(ctx, nil, "ldd", real)
	if err != nil {
		return fmt.Errorf("listing libraries of %s: %w", real, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			p, err := filepath.EvalSymlinks(f[2])
			if err != nil {
				return fmt.Errorf("resolving %s: %w", f[2], err)
			}
			d.libs[f[0]] = p
		case len(f) == 2 && strings.HasPrefix(f[0], "/"):
			p, err := filepath.EvalSymlinks(f[0])
			if err != nil {
				return fmt.Errorf("resolving %s: %w", f[0], err)
			}
			d.interp = [2]string{filepath.Base(f[0]), p}
		}
	}
	// glibc dlopens libgcc_s.so.1 to unwind a thread's stack in
	// pthread_exit and pthread_cancel, and aborts the process ("libgcc_s.so.1
	// must be installed for pthread_exit to work") without it; ldd does not
	// list it. Apache's workers exit that way.
	if libc, ok := d.libs["libc.so.6"]; ok {
		if _, ok := d.libs["libgcc_s.so.1"]; !ok {
			if p, err := filepath.EvalSymlinks(filepath.Join(filepath.Dir(libc), "libgcc_s.so.1")); err == nil {
				d.libs["libgcc_s.so.1"] = p
			}
		}
	}
	return nil
}

// isELF says whether the file at p starts with the ELF magic.
func isELF(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return string(magic[:]) == "\x7fELF", nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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

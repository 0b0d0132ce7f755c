package nixbuild_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/nixcmd"
)

// fakeLdd answers `ldd FILE` from a table and records which files it was asked about.
type fakeLdd struct {
	out   map[string]string
	asked []string
}

func (f *fakeLdd) runner() nixcmd.Runner {
	return func(ctx context.Context, name string, args ...string) *exec.Cmd {
		if name != "ldd" || len(args) != 1 {
			return exec.CommandContext(ctx, "sh", "-c", `echo unexpected command "$0" >&2; exit 2`, name)
		}
		f.asked = append(f.asked, filepath.Base(args[0]))
		out, ok := f.out[args[0]]
		if !ok {
			return exec.CommandContext(ctx, "sh", "-c", `echo "	not a dynamic executable" >&2; exit 1`)
		}
		return exec.CommandContext(ctx, "sh", "-c", `printf %s "$0"`, out)
	}
}

// TestWriteHostPackagesFiles: Files land at their names; the libraries of
// the ELF objects among them are imported, text files are not given to ldd,
// and glibc's libgcc_s.so.1 (dlopened, unseen by ldd) comes along with libc.
func TestWriteHostPackagesFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	prog := write("prog", "\x7fELF program")
	mod := write("mod_x.so", "\x7fELF module")
	mime := write("mime.types", "text/html html\n")
	libc := write("libc.so.6", "\x7fELF")
	libx := write("libx.so.1", "\x7fELF")
	ld := write("ld-linux-x86-64.so.2", "\x7fELF")
	libgcc := write("libgcc_s.so.1", "\x7fELF")
	r := &fakeLdd{out: map[string]string{
		prog: fmt.Sprintf("\tlinux-vdso.so.1 (0x1)\n\tlibc.so.6 => %s (0x2)\n\t%s (0x3)\n", libc, ld),
		mod:  fmt.Sprintf("\tlibx.so.1 => %s (0x2)\n\tlibc.so.6 => %s (0x2)\n\t%s (0x3)\n", libx, libc, ld),
	}}
	file := filepath.Join(dir, "host-pkgs.nix")
	err := nixbuild.WriteHostPackages(context.Background(), r.runner(), file, []nixbuild.HostPackage{{
		Attr:     "web",
		Programs: map[string]string{"web": prog},
		Files:    map[string]string{"modules/mod_x.so": mod, "conf/mime.types": mime},
	}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	got := string(data)
	for _, want := range []string{
		`{ name = "web"; path = ` + prog + `; }`,
		`{ name = "modules/mod_x.so"; path = ` + mod + `; }`,
		`{ name = "conf/mime.types"; path = ` + mime + `; }`,
		`{ name = "libc.so.6"; path = ` + libc + `; }`,
		`{ name = "libx.so.1"; path = ` + libx + `; }`,
		`{ name = "libgcc_s.so.1"; path = ` + libgcc + `; }`,
		`interpreter = { name = "ld-linux-x86-64.so.2"; path = ` + ld + `; }`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("host packages lack %s:\n%s", want, got)
		}
	}
	if asked := strings.Join(r.asked, " "); asked != "prog mod_x.so" {
		t.Errorf("ldd was asked about %q, want \"prog mod_x.so\"", asked)
	}

	for _, bad := range []string{"/abs/x", "../x", "a/../b", ""} {
		err := nixbuild.WriteHostPackages(context.Background(), r.runner(), file, []nixbuild.HostPackage{{
			Attr: "web", Programs: map[string]string{"web": prog}, Files: map[string]string{bad: mime},
		}})
		if err == nil {
			t.Errorf("file name %q was accepted", bad)
		}
	}
}

package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/nixstore/nixtest"
)

// packageClosureNix makes one input-addressed store path per group (a
// Debian package's files). Path 0 is the top; path i refers to paths 2i+1
// and 2i+2 and to the last one (as everything in nixpkgs refers to
// glibc): a closure of depth log2 n, like nixpkgs' (hello's is 5 deep),
// whose paths a substituter can fetch side by side, unlike a chain.
const packageClosureNix = `
{ groups, n, busyboxDir }:
let
  bb = builtins.path { path = busyboxDir; name = "nd-subst-busybox"; };
  src = i: builtins.path { path = groups + "/g${pad i}"; name = "nd-subst-src-${toString i}"; };
  pad = i: let s = toString i; in builtins.substring 0 (4 - builtins.stringLength s) "0000" + s;
  refs = i: builtins.filter (j: j < n && j != i) [ (2 * i + 1) (2 * i + 2) (n - 1) ];
  pkg = i: derivation {
    name = "nd-subst-pkg-${toString i}";
    system = builtins.currentSystem;
    builder = "${bb}/bin/sh";
    args = [ "-c" ''
      ${bb}/bin/busybox mkdir -p $out
      ${bb}/bin/busybox cp -r ${src i}/. $out/
      ${bb}/bin/busybox chmod -R u+w $out
      echo ${toString (map pkgs (refs i))} > $out/nd-deps
    '' ];
  };
  all = builtins.genList pkg n;
  pkgs = builtins.elemAt all;
in pkgs 0
`

// packageClosure builds (once; Nix and a directory under os.TempDir keep
// it) a closure like a nixpkgs one: the files of this machine's Debian
// packages (shared libraries, programs, their data; no docs, man pages or
// translations), one store path per package, every file's content
// distinct, until total bytes. Packages of 300 KB to 40 MB are taken in
// name order (the Google Cloud SDK and kubectl left out: they are most of
// the machine's bytes and would make the closure a few huge paths). Its
// zstd ratio is that of real binaries and libraries (about 3x), so the
// laptop's link carries what it would carry in the field. It returns the
// top store path.
func packageClosure(tb testing.TB, total int64) string {
	tb.Helper()
	nixtest.RequireNix(tb)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("nd-subst-closure-%d", total))
	groups := filepath.Join(dir, "groups")
	n := 0
	if data, err := os.ReadFile(filepath.Join(dir, "done")); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	if n == 0 {
		os.RemoveAll(dir)
		var err error
		if n, err = packageGroups(groups, total); err != nil {
			tb.Fatalf("collecting package files: %v", err)
		}
		bb := filepath.Join(dir, "bb", "bin")
		os.MkdirAll(bb, 0o755)
		data, err := os.ReadFile("/bin/busybox")
		if err != nil {
			tb.Fatal(err)
		}
		os.WriteFile(filepath.Join(bb, "busybox"), data, 0o755)
		os.Symlink("busybox", filepath.Join(bb, "sh"))
		os.WriteFile(filepath.Join(dir, "done"), []byte(strconv.Itoa(n)), 0o644)
	}
	nix := filepath.Join(dir, "closure.nix")
	if err := os.WriteFile(nix, []byte(packageClosureNix), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("nix-build", "--option", "substituters", "", "--no-out-link", nix,
		"--arg", "groups", groups, "--arg", "n", strconv.Itoa(n), "--arg", "busyboxDir", filepath.Join(dir, "bb"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("building the package closure: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// packageGroups hard-links the files of Debian packages into groups/gNNNN,
// one directory per package, and returns how many it made.
func packageGroups(groups string, total int64) (int, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Package}\t${Installed-Size}\n").Output()
	if err != nil {
		return 0, fmt.Errorf("listing packages: %w", err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, size, _ := strings.Cut(l, "\t")
		kb, _ := strconv.Atoi(size)
		if kb < 300 || kb > 40000 || strings.HasPrefix(name, "google-cloud") || name == "kubectl" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[[sha256.Size]byte]bool{}
	var sum int64
	n := 0
	for _, name := range names {
		if sum >= total {
			break
		}
		out, err := exec.Command("dpkg-query", "-L", name).Output()
		if err != nil {
			continue
		}
		added := 0
		for _, f := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(f, "/usr/") || strings.HasPrefix(f, "/usr/share/doc/") ||
				strings.HasPrefix(f, "/usr/share/man/") || strings.HasPrefix(f, "/usr/share/locale/") {
				continue
			}
			fi, err := os.Lstat(f)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o444 != 0o444 {
				continue
			}
			h, err := fileHash(f)
			if err != nil || seen[h] {
				continue
			}
			seen[h] = true
			dst := filepath.Join(groups, fmt.Sprintf("g%04d", n), strings.TrimPrefix(f, "/"))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return 0, err
			}
			if err := os.Link(f, dst); err != nil {
				return 0, err
			}
			sum += fi.Size()
			added++
		}
		if added > 0 {
			n++
		}
	}
	if sum < total {
		return 0, fmt.Errorf("only %d bytes of distinct package files, want %d", sum, total)
	}
	return n, nil
}

func fileHash(f string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	r, err := os.Open(f)
	if err != nil {
		return h, err
	}
	defer r.Close()
	s := sha256.New()
	if _, err := io.Copy(s, r); err != nil {
		return h, err
	}
	copy(h[:], s.Sum(nil))
	return h, nil
}

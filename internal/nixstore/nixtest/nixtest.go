// Package nixtest helps tests of nd's transfer code: it builds small real
// closures with the local Nix, encodes synthetic NARs and export streams,
// and decides whether a test missing Nix skips or fails. Only tests import it.
package nixtest

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/testutil"
)

// Require is testutil.Require: skip, or fail under ND_TEST_REQUIRE_ALL=1.
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	testutil.Require(t, ok, why)
}

// RequireNix requires nix-build, nix-store and root (to write /nix).
func RequireNix(t testing.TB) {
	t.Helper()
	_, err1 := exec.LookPath("nix-store")
	_, err2 := exec.LookPath("nix-build")
	Require(t, err1 == nil && err2 == nil && os.Geteuid() == 0, "needs nix-store, nix-build and root")
	_, err := os.Stat("/bin/busybox")
	Require(t, err == nil, "needs a static /bin/busybox")
}

const closureNix = `
{ tag, n }:
let
  bb = builtins.path { path = BBDIR; name = "nd-test-busybox"; };
  mk = name: deps: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "${bb}/bin/sh";
    args = [ "-c" ''
      set -e
      ${bb}/bin/busybox mkdir -p $out/bin $out/share/empty-dir
      echo ${tag} ${name} > $out/name
      ${bb}/bin/busybox seq 1 2000 > $out/share/numbers
      ${bb}/bin/busybox ln -s ${bb}/bin/busybox $out/bin/bb
      ${bb}/bin/busybox cp ${bb}/bin/busybox $out/bin/busybox-copy
      for d in ${toString deps}; do echo $d >> $out/deps; done
    '' ];
  };
  go = i: if i == 0 then [ ] else let rest = go (i - 1); in rest ++ [ (mk "nd-test-${tag}-${toString i}" rest) ];
  all = go n;
  last = builtins.elemAt all (n - 1);
in derivation {
  name = "nd-package-${tag}";
  system = builtins.currentSystem;
  builder = "${bb}/bin/sh";
  args = [ "-c" ''
    ${bb}/bin/busybox mkdir -p $out
    echo '{"version":1,"name":"${tag}","entrypoint":["${bb}/bin/busybox","sleep","1000"],"init":"${last}","processesFile":"${last}/name"}' > $out/nd-manifest.json
  '' ];
}
`

// BuildClosure builds, with the local Nix, a deploy package for app tag
// (a directory with nd-manifest.json) whose closure is n+2 store paths: n
// chained packages, busybox, and the package itself. It returns the
// package's store path. tag must be a valid app name.
func BuildClosure(t testing.TB, tag string, n int) string {
	t.Helper()
	RequireNix(t)
	dir := t.TempDir()
	bb := busyboxDir(t, dir)
	expr := strings.Replace(closureNix, "BBDIR", bb, 1)
	f := filepath.Join(dir, "closure.nix")
	if err := os.WriteFile(f, []byte(expr), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix-build", "--option", "substituters", "", "--no-out-link",
		"--argstr", "tag", tag, "--arg", "n", itoa(n), f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-build: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// Node is a file system object in a synthetic NAR.
type Node struct {
	Type     string // "regular", "symlink", "directory"
	Exec     bool
	Contents []byte
	Target   string
	Entries  []Entry // directories: in the order to encode (Nix wants sorted)
}

// Entry is a named directory entry.
type Entry struct {
	Name string
	Node Node
}

// Str appends a Nix wire string.
func Str(b *bytes.Buffer, s string) {
	U64(b, uint64(len(s)))
	b.WriteString(s)
	if p := (8 - len(s)%8) % 8; p > 0 {
		b.Write(make([]byte, p))
	}
}

// U64 appends a little-endian u64.
func U64(b *bytes.Buffer, n uint64) {
	var x [8]byte
	binary.LittleEndian.PutUint64(x[:], n)
	b.Write(x[:])
}

// NAR encodes n as a NAR.
func NAR(n Node) []byte {
	var b bytes.Buffer
	Str(&b, "nix-archive-1")
	node(&b, n)
	return b.Bytes()
}

func node(b *bytes.Buffer, n Node) {
	Str(b, "(")
	Str(b, "type")
	Str(b, n.Type)
	switch n.Type {
	case "regular":
		if n.Exec {
			Str(b, "executable")
			Str(b, "")
		}
		Str(b, "contents")
		Str(b, string(n.Contents))
	case "symlink":
		Str(b, "target")
		Str(b, n.Target)
	case "directory":
		for _, e := range n.Entries {
			Str(b, "entry")
			Str(b, "(")
			Str(b, "name")
			Str(b, e.Name)
			Str(b, "node")
			node(b, e.Node)
			Str(b, ")")
		}
	}
	Str(b, ")")
}

// ExportPath is one entry of a synthetic export stream.
type ExportPath struct {
	Path       string
	References []string
	Deriver    string
	Node       Node
}

// Export encodes a `nix-store --export` stream of paths.
func Export(paths ...ExportPath) []byte {
	var b bytes.Buffer
	for _, p := range paths {
		U64(&b, 1)
		b.Write(NAR(p.Node))
		U64(&b, 0x4558494e)
		Str(&b, p.Path)
		U64(&b, uint64(len(p.References)))
		for _, r := range p.References {
			Str(&b, r)
		}
		Str(&b, p.Deriver)
		U64(&b, 0)
	}
	U64(&b, 0)
	return b.Bytes()
}

// File is a regular file node.
func File(contents string) Node { return Node{Type: "regular", Contents: []byte(contents)} }

// Dir is a directory node of the given entries, in the given order.
func Dir(entries ...Entry) Node { return Node{Type: "directory", Entries: entries} }

const bigNix = `
{ tag, mib }:
let bb = builtins.path { path = BBDIR; name = "nd-test-busybox"; };
in derivation {
  name = "nd-test-big-${tag}";
  system = builtins.currentSystem;
  builder = "${bb}/bin/sh";
  args = [ "-c" ''
    ${bb}/bin/busybox mkdir -p $out/data
    echo ${tag} > $out/name
    ${bb}/bin/busybox truncate -s ${toString mib}M $out/data/big
  '' ];
  # Its only reference would be busybox; it has none, so the closure is this one path.
  allowedReferences = [ ];
}
`

// BuildBig builds, with the local Nix, a store path holding one file of mib
// MiB (sparse on the laptop, cheap to make; its NAR still carries every
// byte) and no references: a closure of one big path. It returns the path.
func BuildBig(t testing.TB, tag string, mib int) string {
	t.Helper()
	RequireNix(t)
	dir := t.TempDir()
	bb := busyboxDir(t, dir)
	f := filepath.Join(dir, "big.nix")
	if err := os.WriteFile(f, []byte(strings.Replace(bigNix, "BBDIR", bb, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix-build", "--option", "substituters", "", "--no-out-link",
		"--argstr", "tag", tag, "--arg", "mib", itoa(mib), f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-build: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// busyboxDir makes dir/bb, the builder directory the expressions above put
// in the store with builtins.path: bin/busybox (a copy of the static
// /bin/busybox) and bin/sh -> busybox. It returns its path.
func busyboxDir(t testing.TB, dir string) string {
	t.Helper()
	bb := filepath.Join(dir, "bb")
	if err := os.MkdirAll(filepath.Join(bb, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bb, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(bb, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	return bb
}

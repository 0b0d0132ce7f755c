package nixstore_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

const (
	pA = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a"
	pB = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-b"
	pC = "/nix/store/2123456789abcdfghijklmnpqrsvwxyz-c.drv"
)

func sampleTree() nt.Node {
	return nt.Dir(
		nt.Entry{Name: "bin", Node: nt.Dir(nt.Entry{Name: "x", Node: nt.Node{Type: "regular", Exec: true, Contents: []byte("#!/bin/sh\n")}})},
		nt.Entry{Name: "empty", Node: nt.File("")},
		nt.Entry{Name: "link", Node: nt.Node{Type: "symlink", Target: "bin/x"}},
	)
}

func sampleStream() []byte {
	return nt.Export(
		nt.ExportPath{Path: pA, Node: nt.File("hello a")},
		nt.ExportPath{Path: pB, References: []string{pA, pB}, Deriver: pC, Node: sampleTree()},
	)
}

// copyChecked runs CopyExport and checks what must hold whatever the input:
// the output is a prefix of the input; on success all of it; on failure it
// never holds the complete failing entry.
func copyChecked(t testing.TB, in []byte, opts nixstore.ExportOptions) ([]nixstore.Entry, error) {
	t.Helper()
	var out bytes.Buffer
	committed := 0
	userCommit := opts.BeforeCommit
	opts.BeforeCommit = func(e nixstore.Entry) error {
		if userCommit != nil {
			if err := userCommit(e); err != nil {
				return err
			}
		}
		committed++
		return nil
	}
	entries, err := nixstore.CopyExport(bytes.NewReader(in), &out, opts)
	if !bytes.HasPrefix(in, out.Bytes()) {
		t.Fatalf("output is not a prefix of the input")
	}
	if err == nil && !bytes.Equal(in, out.Bytes()) {
		t.Fatalf("accepted stream not passed through unchanged: %d of %d bytes", out.Len(), len(in))
	}
	if err != nil {
		// What nix-store received must not complete another entry: parsing
		// the output (plus an end marker) without checks finds only the
		// entries accepted.
		if len(entries) != committed {
			t.Fatalf("%d entries returned, %d committed", len(entries), committed)
		}
		got, _ := nixstore.CopyExport(bytes.NewReader(out.Bytes()), nil, nixstore.ExportOptions{ReferenceValid: func(string) (bool, error) { return true, nil }})
		if len(got) > len(entries) {
			t.Fatalf("output of a failed copy holds %d complete entries, only %d were accepted", len(got), len(entries))
		}
	}
	return entries, err
}

func TestCopyExportPassesValidStream(t *testing.T) {
	in := sampleStream()
	entries, err := copyChecked(t, in, nixstore.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []nixstore.Entry{
		{Path: pA, NarSize: int64(len(nt.NAR(nt.File("hello a"))))},
		{Path: pB, References: []string{pA, pB}, Deriver: pC, NarSize: int64(len(nt.NAR(sampleTree())))},
	}
	if d := cmp.Diff(want, entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
}

func TestCopyExportEmpty(t *testing.T) {
	entries, err := copyChecked(t, nt.Export(), nixstore.ExportOptions{})
	if err != nil || len(entries) != 0 {
		t.Fatalf("CopyExport(empty) = %v, %v; want no entries", entries, err)
	}
}

func TestCopyExportRejects(t *testing.T) {
	ok := func(n nt.Node) []byte { return nt.Export(nt.ExportPath{Path: pA, Node: n}) }
	file := nt.File("x")
	tests := []struct {
		name, in, want string
	}{
		{"unsorted", string(ok(nt.Dir(nt.Entry{Name: "b", Node: file}, nt.Entry{Name: "a", Node: file}))), `names not sorted`},
		{"duplicate", string(ok(nt.Dir(nt.Entry{Name: "a", Node: file}, nt.Entry{Name: "a", Node: file}))), `names not sorted or not unique`},
		{"dotdot", string(ok(nt.Dir(nt.Entry{Name: "..", Node: file}))), `bad entry name ".."`},
		{"dot", string(ok(nt.Dir(nt.Entry{Name: ".", Node: file}))), `bad entry name "."`},
		{"slash", string(ok(nt.Dir(nt.Entry{Name: "a/b", Node: file}))), `bad entry name`},
		{"nul", string(ok(nt.Dir(nt.Entry{Name: "a\x00", Node: file}))), `bad entry name`},
		{"empty name", string(ok(nt.Dir(nt.Entry{Name: "", Node: file}))), `bad entry name`},
		{"bad type", string(ok(nt.Node{Type: "fifo"})), `node type "fifo"`},
		{"empty target", string(ok(nt.Node{Type: "symlink"})), `symlink target "" is empty`},
		{"nested file", string(ok(nt.Dir(nt.Entry{Name: "d", Node: nt.Dir(nt.Entry{Name: "z", Node: nt.Node{Type: "bogus"}})}))), `file /d/z: node type "bogus"`},
		{"bad store path", string(nt.Export(nt.ExportPath{Path: "/nix/store/abc-x", Node: file})), `want /nix/store/<32-char hash>-<name>`},
		{"store path with subdir", string(nt.Export(nt.ExportPath{Path: pA + "/bin", Node: file})), `forbidden character '/'`},
		{"missing reference", string(nt.Export(nt.ExportPath{Path: pB, References: []string{pA}, Node: file})), `reference ` + pA + ` is neither earlier`},
		{"reference after", string(nt.Export(nt.ExportPath{Path: pB, References: []string{pA}, Node: file}, nt.ExportPath{Path: pA, Node: file})), `entry 1 (` + pB + `): reference`},
		{"bad deriver", string(nt.Export(nt.ExportPath{Path: pA, Deriver: pB, Node: file})), `not a store derivation`},
		{"twice", string(nt.Export(nt.ExportPath{Path: pA, Node: file}, nt.ExportPath{Path: pA, Node: file})), `twice in the stream`},
		{"trailing", string(ok(file)) + "x", `data after the end`},
		{"marker", "\x02\x00\x00\x00\x00\x00\x00\x00", `entry marker 2`},
		{"no end", string(ok(file)[:len(ok(file))-8]), `stream ends early`},
		{"empty input", "", `stream ends early`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := copyChecked(t, []byte(tt.in), nixstore.ExportOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CopyExport = %v, want error containing %q", err, tt.want)
			}
			if !errors.As(err, new(*nixstore.FormatError)) {
				t.Errorf("error %v is not a *FormatError", err)
			}
		})
	}
}

func TestCopyExportSignatureAndPadding(t *testing.T) {
	in := nt.Export(nt.ExportPath{Path: pA, Node: nt.File("x")})
	sig := bytes.Clone(in)
	sig[len(sig)-16] = 1 // the signature flag of the only entry
	if _, err := copyChecked(t, sig, nixstore.ExportOptions{}); err == nil || !strings.Contains(err.Error(), "signature flag 1") {
		t.Errorf("signed entry: err = %v", err)
	}
	// Padding of the file contents "x": the byte after it.
	i := bytes.Index(in, []byte("contents")) + 8 + 8 + 1
	pad := bytes.Clone(in)
	pad[i] = 7
	if _, err := copyChecked(t, pad, nixstore.ExportOptions{}); err == nil || !strings.Contains(err.Error(), "non-zero padding") {
		t.Errorf("bad padding: err = %v", err)
	}
}

func TestCopyExportTruncatedAnywhere(t *testing.T) {
	in := sampleStream()
	for n := 0; n < len(in); n++ {
		if _, err := copyChecked(t, in[:n], nixstore.ExportOptions{}); err == nil {
			t.Fatalf("stream cut at %d of %d accepted", n, len(in))
		}
	}
}

func TestCopyExportReferenceValid(t *testing.T) {
	in := nt.Export(nt.ExportPath{Path: pB, References: []string{pA}, Node: nt.File("b")})
	var asked []string
	_, err := copyChecked(t, in, nixstore.ExportOptions{ReferenceValid: func(p string) (bool, error) {
		asked = append(asked, p)
		return true, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{pA}, asked); d != "" {
		t.Errorf("asked (-want +got):\n%s", d)
	}
	stop := errors.New("no room")
	_, err = copyChecked(t, in, nixstore.ExportOptions{
		ReferenceValid: func(string) (bool, error) { return true, nil },
		BeforeCommit:   func(nixstore.Entry) error { return stop },
	})
	if !errors.Is(err, stop) {
		t.Errorf("BeforeCommit error: got %v, want %v", err, stop)
	}
}

func FuzzCopyExport(f *testing.F) {
	f.Add(sampleStream())
	f.Add(nt.Export())
	f.Add(nt.Export(nt.ExportPath{Path: pA, Node: nt.Node{Type: "symlink", Target: "/x"}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		copyChecked(t, in, nixstore.ExportOptions{
			ReferenceValid: func(p string) (bool, error) { return p == pA, nil },
			MaxPaths:       100,
		})
	})
}

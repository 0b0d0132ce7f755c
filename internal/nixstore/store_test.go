package nixstore_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

// verify runs nix-store --verify --check-contents on a store.
func verify(t *testing.T, s *nixstore.Store) {
	t.Helper()
	out, err := exec.Command("nix-store", "--store", s.Root, "--verify", "--check-contents").CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error")) {
		t.Fatalf("nix-store --verify on %s: %v: %s", s.Root, err, out)
	}
}

func TestRealExportImport(t *testing.T) {
	ctx := context.Background()
	top := nt.BuildClosure(t, "nixstore", 4)
	local := &nixstore.Store{}
	paths, err := local.Requisites(ctx, top)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 6 || paths[len(paths)-1] != top {
		t.Fatalf("Requisites(%s) = %v, want 6 paths ending with it", top, paths)
	}
	var exp bytes.Buffer
	if err := local.Export(ctx, &exp, paths); err != nil {
		t.Fatal(err)
	}
	entries, err := copyChecked(t, exp.Bytes(), nixstore.ExportOptions{})
	if err != nil {
		t.Fatalf("CopyExport of a real export: %v", err)
	}
	for i, e := range entries {
		if e.Path != paths[i] {
			t.Fatalf("entry %d is %s, want %s (dependency order)", i, e.Path, paths[i])
		}
	}

	// Cut the stream in the middle of the third entry's NAR: the target
	// gets exactly the first two paths, complete.
	target := &nixstore.Store{Root: filepath.Join(t.TempDir(), "store")}
	var cut int64
	for _, e := range entries[:2] {
		cut += 8 + e.NarSize
	}
	im, err := target.StartImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	half := exp.Bytes()[:cut+8*10+entries[2].NarSize/2] // into entry 3
	_, err = nixstore.CopyExport(bytes.NewReader(half), im.Stdin, nixstore.ExportOptions{})
	if err == nil {
		t.Fatal("truncated stream accepted")
	}
	im.Abort()
	valid, err := target.QueryValid(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		if valid[p] != (i < 2) {
			t.Errorf("after truncated import: %s valid = %v, want %v", p, valid[p], i < 2)
		}
	}
	verify(t, target)

	// The whole stream completes it.
	im, err = target.StartImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nixstore.CopyExport(bytes.NewReader(exp.Bytes()), im.Stdin, nixstore.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	imported, err := im.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(imported) != len(paths) {
		t.Errorf("imported %v, want %d paths", imported, len(paths))
	}
	valid, err = target.QueryValid(ctx, paths)
	if err != nil || len(valid) != len(paths) {
		t.Fatalf("QueryValid after import = %v, %v; want all %d", valid, err, len(paths))
	}
	verify(t, target)
}

func TestRunnerIsUsed(t *testing.T) {
	nt.RequireNix(t)
	var calls []string
	s := &nixstore.Store{Root: filepath.Join(t.TempDir(), "s"), Run: func(ctx context.Context, name string, args ...string) *exec.Cmd {
		calls = append(calls, name+" "+strings.Join(args, " "))
		return exec.CommandContext(ctx, name, args...)
	}}
	p := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-absent"
	v, err := s.QueryValid(context.Background(), []string{p})
	if err != nil || len(v) != 0 {
		t.Fatalf("QueryValid = %v, %v; want nothing valid", v, err)
	}
	want := "nix-store --store " + s.Root + " --check-validity --print-invalid " + p
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("calls %q, want [%q]", calls, want)
	}
	if _, err := s.QueryValid(context.Background(), []string{"/etc/passwd"}); err == nil {
		t.Error("QueryValid accepted a path outside the store")
	}
}

package nixstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

// TestRestoreImport imports a real export by restoring it and registering
// it: the target then holds the same paths, hashes and references as the
// source (nix-store --verify --check-contents rehashes every file); a cut
// stream leaves exactly the complete paths valid and no temporary files;
// the whole stream then completes the store.
func TestRestoreImport(t *testing.T) {
	ctx := context.Background()
	top := nt.BuildClosure(t, "restore", 4)
	local := &nixstore.Store{}
	paths, err := local.Requisites(ctx, top)
	if err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := local.Export(ctx, &exp, paths); err != nil {
		t.Fatal(err)
	}
	entries, err := nixstore.CopyExport(bytes.NewReader(exp.Bytes()), nil, nixstore.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}

	target := &nixstore.Store{Root: filepath.Join(t.TempDir(), "store")}
	var cut int64
	for _, e := range entries[:2] {
		cut += 8 + e.NarSize
	}
	half := exp.Bytes()[:cut+8*10+entries[2].NarSize/2] // into entry 3
	got, _, err := target.RestoreImport(ctx, bytes.NewReader(half), nixstore.ExportOptions{})
	if err == nil {
		t.Fatal("truncated stream accepted")
	}
	if len(got) != 2 {
		t.Errorf("truncated stream: RestoreImport returned %d entries, want 2", len(got))
	}
	valid, err := target.QueryValid(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		if valid[p] != (i < 2) {
			t.Errorf("after truncated import: %s valid = %v, want %v", p, valid[p], i < 2)
		}
	}
	noLeftovers(t, target)
	verify(t, target)

	got, st, err := target.RestoreImport(ctx, bytes.NewReader(exp.Bytes()), nixstore.ExportOptions{})
	if err != nil {
		t.Fatalf("RestoreImport of the whole stream: %v", err)
	}
	if len(got) != len(paths) {
		t.Errorf("RestoreImport returned %d entries, want %d", len(got), len(paths))
	}
	if st.Register <= 0 {
		t.Errorf("stats %+v: no registration time", st)
	}
	valid, err = target.QueryValid(ctx, paths)
	if err != nil || len(valid) != len(paths) {
		t.Fatalf("QueryValid after import = %v, %v; want all %d", valid, err, len(paths))
	}
	noLeftovers(t, target)
	verify(t, target)
	canonical(t, target, paths)
	for _, q := range []string{"--hash", "--references", "--size", "--deriver"} {
		for _, p := range paths {
			want, err1 := exec.Command("nix-store", "-q", q, p).Output()
			gotq, err2 := exec.Command("nix-store", "--store", target.Root, "-q", q, p).Output()
			if err1 != nil || err2 != nil || string(gotq) != string(want) {
				t.Errorf("nix-store -q %s %s: restored %q (%v), source %q (%v)", q, p, gotq, err2, want, err1)
			}
		}
	}
}

// TestRestoreImportRefusesBadStream: a malformed NAR is refused before
// anything of it becomes a store path.
func TestRestoreImportRefusesBadStream(t *testing.T) {
	nt.RequireNix(t)
	ctx := context.Background()
	p := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-bad"
	exp := nt.Export(nt.ExportPath{Path: p, Node: nt.Dir(nt.Entry{Name: "b", Node: nt.File("x")}, nt.Entry{Name: "a", Node: nt.File("y")})})
	target := &nixstore.Store{Root: filepath.Join(t.TempDir(), "store")}
	if _, _, err := target.RestoreImport(ctx, bytes.NewReader(exp), nixstore.ExportOptions{}); err == nil {
		t.Fatal("unsorted directory accepted")
	}
	if _, err := os.Lstat(target.RealPath(p)); !os.IsNotExist(err) {
		t.Errorf("%s exists after a refused stream: %v", p, err)
	}
	noLeftovers(t, target)
}

func noLeftovers(t *testing.T, s *nixstore.Store) {
	t.Helper()
	ents, _ := os.ReadDir(s.RealPath(nixstore.StoreDir))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".nd-restore-") || strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left in the store directory: %s", e.Name())
		}
	}
}

// canonical checks Nix's canonical metadata on the restored paths: modes
// 0444 or 0555 (whatever the umask), directories 0555, mtime 1.
func canonical(t *testing.T, s *nixstore.Store, paths []string) {
	t.Helper()
	for _, p := range paths {
		filepath.WalkDir(s.RealPath(p), func(f string, d os.DirEntry, err error) error {
			if err != nil {
				t.Error(err)
				return nil
			}
			st, err := os.Lstat(f)
			if err != nil {
				t.Error(err)
				return nil
			}
			if st.ModTime().Unix() != 1 {
				t.Errorf("%s: mtime %v, want 1 s after the epoch", f, st.ModTime())
			}
			if m := st.Mode(); m&os.ModeSymlink == 0 && m.Perm() != 0o444 && m.Perm() != 0o555 {
				t.Errorf("%s: mode %v, want 0444 or 0555", f, m)
			}
			return nil
		})
	}
}

// TestRestoreLeftovers: what a restore killed mid-import leaves (a
// temporary directory with read-only parts) is found and removed, but a
// running restore's temporaries are not touched.
func TestRestoreLeftovers(t *testing.T) {
	nt.RequireNix(t)
	ctx := context.Background()
	target := &nixstore.Store{Root: filepath.Join(t.TempDir(), "store")}
	left := filepath.Join(target.RealPath(nixstore.StoreDir), ".nd-restore-0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(left, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(left, "bin", "x"), []byte("x"), 0o555)
	os.Chmod(filepath.Join(left, "bin"), 0o555)
	os.Chmod(left, 0o555)

	// A restore that is running: its stream stops inside a NAR.
	p := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-running"
	exp := nt.Export(nt.ExportPath{Path: p, Node: nt.Dir(nt.Entry{Name: "a", Node: nt.File(strings.Repeat("y", 1<<16))})})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, _, err := target.RestoreImport(ctx, pr, nixstore.ExportOptions{})
		done <- err
	}()
	pw.Write(exp[:len(exp)/2])
	// Wait until the running restore has its temporary directory.
	for i := 0; ; i++ {
		ents, _ := os.ReadDir(target.RealPath(nixstore.StoreDir))
		n := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".nd-restore-") {
				n++
			}
		}
		if n == 2 {
			break
		}
		if i > 200 {
			t.Fatalf("the running restore made no temporary directory: %v", ents)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if found, err := target.RestoreLeftovers(true); err != nil || len(found) != 0 {
		t.Errorf("RestoreLeftovers during a restore = %v, %v; want nothing touched", found, err)
	}
	pw.CloseWithError(errors.New("cut off"))
	if err := <-done; err == nil {
		t.Fatal("cut stream accepted")
	}

	found, err := target.RestoreLeftovers(false)
	want := []string{"/nix/store/.nd-restore-0123456789abcdef"}
	if err != nil || !slices.Equal(found, want) {
		t.Fatalf("RestoreLeftovers(false) = %v, %v; want %v", found, err, want)
	}
	if _, err := os.Lstat(left); err != nil {
		t.Fatalf("listing removed the leftover: %v", err)
	}
	if found, err := target.RestoreLeftovers(true); err != nil || !slices.Equal(found, want) {
		t.Fatalf("RestoreLeftovers(true) = %v, %v; want %v", found, err, want)
	}
	noLeftovers(t, target)
}

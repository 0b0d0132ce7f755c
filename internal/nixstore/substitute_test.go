package nixstore_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/nixstore/nixtest"
)

// TestSubstitutePlan substitutes into a fresh chroot store from a file://
// cache holding all of a closure but its top path: Nix's announcement of
// what it will fetch reaches plan, and those paths (only those) are valid
// afterwards.
func TestSubstitutePlan(t *testing.T) {
	pkg := nixtest.BuildClosure(t, "substplan", 3)
	local := &nixstore.Store{}
	paths, err := local.Requisites(context.Background(), pkg)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	deps := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == pkg })
	args := append([]string{"--extra-experimental-features", "nix-command", "copy", "--to", "file://" + cache}, deps...)
	if out, err := exec.Command("nix", args...).CombinedOutput(); err != nil {
		t.Fatalf("nix copy: %v\n%s", err, out)
	}
	t.Setenv("NIX_CONFIG", "substituters = file://"+cache+"\nrequire-sigs = false")

	target := &nixstore.Store{Root: filepath.Join(t.TempDir(), "store")}
	var planned []string
	calls := 0
	valid, out, err := target.Substitute(context.Background(), paths, func(f []string) { planned = f; calls++ })
	if err != nil {
		t.Fatalf("Substitute: %v\n%s", err, out)
	}
	if calls != 1 {
		t.Fatalf("plan called %d times, want once; Nix said:\n%s", calls, out)
	}
	slices.Sort(planned)
	slices.Sort(deps)
	if !slices.Equal(planned, deps) {
		t.Errorf("plan = %v\nwant the cache's paths %v", planned, deps)
	}
	for _, p := range paths {
		if valid[p] != (p != pkg) {
			t.Errorf("valid[%s] = %v after substituting, want %v", p, valid[p], p != pkg)
		}
	}
}

func TestPlanParser(t *testing.T) {
	one := "/nix/store/0lk4vsy1qrdwcf2qigy55xpkh72cjwjx-a"
	two := "/nix/store/1lk4vsy1qrdwcf2qigy55xpkh72cjwjx-b"
	for _, tc := range []struct {
		name, out string
		want      []string // nil: Done not called
	}{
		{"one path", "this path will be fetched (0.01 MiB download, 0.02 MiB unpacked):\n  " + one + "\ncopying path", []string{one}},
		{"two paths, split writes", "don't know how to build these paths:\n  /nix/store/x\nthese 2 paths will be fetched (1 MiB download, 2 MiB unpacked):\n  " + one + "\n  " + two + "\n", []string{one, two}},
		{"fewer listed than announced", "these 3 paths will be fetched (1 MiB download, 2 MiB unpacked):\n  " + one + "\ncopying path '" + two + "'\n", nil},
		{"not yet complete", "these 2 paths will be fetched (1 MiB download, 2 MiB unpacked):\n  " + one + "\n  " + two, nil},
		{"no announcement", "warning: something\n  " + one + "\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			p := &nixstore.PlanParser{Done: func(f []string) { got = f }}
			// Byte by byte: Nix's output arrives in pieces.
			for i := range len(tc.out) {
				p.Write([]byte{tc.out[i]})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Done got %q, want %q", got, tc.want)
			}
		})
	}
}

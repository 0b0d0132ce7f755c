package fleet

import "testing"

// Variant is one kind of droplet in nd's compatibility matrix.
type Variant struct {
	// Name names the subtest: see Matrix.
	Name string
	// Options start droplets of the variant (pass them to ForTest).
	Options Options
}

// Matrix returns base once per droplet variant that nd's compatibility tests
// cover; Kind, ContainerdStore and NixLayout of base are set per variant,
// everything else is kept:
//
//	bookworm              Debian 12's own programs, no init system (Nix 2.8
//	                      if base.Nix, Docker 20.10)
//	modern                Debian sid, systemd 262, Docker 28.5 with the
//	                      classic image store, Debian's Nix 2.34 if base.Nix
//	modern-containerd     modern with Docker's containerd image store (the
//	                      default of fresh Docker Engine 29 installs)
//	modern-installer-nix  modern with Nix only where the official installer
//	                      puts it (only if base.Nix)
//	modern-field          a droplet as made today: containerd image store
//	                      and installer Nix (only if base.Nix)
func Matrix(base Options) []Variant {
	with := func(name string, kind Kind, store bool, layout NixLayout) Variant {
		o := base
		o.Kind, o.ContainerdStore, o.NixLayout = kind, store, layout
		return Variant{Name: name, Options: o}
	}
	vs := []Variant{
		with("bookworm", Bookworm, false, ""),
		with("modern", Modern, false, ""),
		with("modern-containerd", Modern, true, ""),
	}
	if base.Nix {
		vs = append(vs,
			with("modern-installer-nix", Modern, false, NixInstaller),
			with("modern-field", Modern, true, NixInstaller))
	}
	return vs
}

// Only keeps the variants with the given names, in vs's order (a test that
// cannot pass on some variant yet says so by leaving it out).
func Only(vs []Variant, names ...string) []Variant {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	var out []Variant
	for _, v := range vs {
		if keep[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

// RunMatrix runs f once per variant, as parallel subtests of t named after
// the variants, so their droplets boot concurrently. f must not call
// t.Setenv (Go forbids it in parallel tests): set the environment in t
// before calling RunMatrix.
func RunMatrix(t *testing.T, vs []Variant, f func(t *testing.T, v Variant)) {
	t.Helper()
	if len(vs) == 0 {
		t.Fatal("RunMatrix: no variants")
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

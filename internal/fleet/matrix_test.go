package fleet

import (
	"slices"
	"strings"
	"testing"
)

func TestMatrixNames(t *testing.T) {
	names := func(vs []Variant) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
			if err := v.Options.check(); err != nil {
				t.Errorf("variant %s: %v", v.Name, err)
			}
		}
		return out
	}
	if got, want := names(Matrix(Options{})), []string{"bookworm", "modern", "modern-containerd"}; !slices.Equal(got, want) {
		t.Errorf("Matrix without Nix = %q, want %q", got, want)
	}
	all := Matrix(Options{Nix: true, Rate: "100mbit"})
	if got, want := names(all), []string{"bookworm", "modern", "modern-containerd", "modern-installer-nix", "modern-field"}; !slices.Equal(got, want) {
		t.Errorf("Matrix with Nix = %q, want %q", got, want)
	}
	for _, v := range all {
		if v.Options.Rate != "100mbit" || !v.Options.Nix {
			t.Errorf("variant %s lost base options: %+v", v.Name, v.Options)
		}
	}
	if got := names(Only(all, "modern-field", "bookworm")); !slices.Equal(got, []string{"bookworm", "modern-field"}) {
		t.Errorf("Only = %q", got)
	}
}

// TestMatrixDroplets boots every variant with Nix at once and checks what a
// deploy depends on: Docker answers with the asked-for image store, and Nix
// is where the variant puts it.
func TestMatrixDroplets(t *testing.T) {
	RunMatrix(t, Matrix(Options{Nix: true}), func(t *testing.T, v Variant) {
		ctx := testCtx(t)
		d := ForTest(t, 1, v.Options)[0]
		driver := mustExec(t, ctx, d, "docker", "-H", "unix://"+DockerSocket, "info", "--format", "{{json .DriverStatus}}")
		if got := strings.Contains(driver, "io.containerd.snapshotter"); got != v.Options.ContainerdStore {
			t.Errorf("containerd image store = %v (%s), want %v", got, driver, v.Options.ContainerdStore)
		}
		nixStore := "nix-store"
		if v.Options.NixLayout == NixInstaller {
			nixStore = installerBin + "/nix-store"
		}
		want := map[Kind]string{Bookworm: "2.8", Modern: "2.34"}[d.Kind]
		if got := mustExec(t, ctx, d, nixStore, "--version"); !strings.Contains(got, want) {
			t.Errorf("%s --version = %q, want Nix %s", nixStore, got, want)
		}
	})
}

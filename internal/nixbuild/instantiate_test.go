package nixbuild_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixbuild"
	"github.com/nd-project/nd/internal/testutil"
)

// TestInstantiate: evaluating without building (--build-on-target) gives
// the derivation of the very package Build makes, and the manifest byte for
// byte as the package holds it, for a config.nix and for a flake.
func TestInstantiate(t *testing.T) {
	requireNix(t)
	init, _ := ndInit(t)
	for _, config := range []string{
		filepath.Join(repoRoot(t), "examples", "hello", "config.nix"),
		filepath.Join(repoRoot(t), "examples", "supervisord", "config.nix"),
		testutil.ExampleFlake(t) + "#hello",
	} {
		opts := nixbuild.Options{Config: config, NDInit: init, CacheDir: t.TempDir()}
		in, err := nixbuild.Instantiate(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		pkg, err := nixbuild.Build(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if in.Package.Path != pkg.Path || filepath.Ext(in.Drv) != ".drv" {
			t.Errorf("Instantiate(%s) = %s from %s; Build gives %s", config, in.Package.Path, in.Drv, pkg.Path)
		}
		built, err := os.ReadFile(filepath.Join(pkg.Path, manifest.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pkg.JSON, built) {
			t.Errorf("%s: Build's manifest bytes differ from the package's", config)
		}
		if !bytes.Equal(in.Package.JSON, built) || in.Package.Manifest.Name != pkg.Manifest.Name {
			t.Errorf("%s: evaluated manifest\n%s\ndiffers from the built one\n%s", config, in.Package.JSON, built)
		}
	}
}

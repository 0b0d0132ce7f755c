package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
)

// imageFileOptions are `nd-push build -b`'s flags: write the full layered
// image to a file instead of only building the deploy package.
type imageFileOptions struct {
	On   bool   // -b
	OCI  bool   // --oci: an OCI image layout instead of a docker-archive
	From string // --from BASE: a docker-archive (`docker save`) to build on
	// Push is --push REF: push the image to an OCI registry; Insecure
	// allows plain HTTP to it.
	Push     string
	Insecure bool
	pushRef  name.Reference
}

func (o *imageFileOptions) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.On, "image", "b", false, "write the full layered image to the -o FILE (a docker-archive for docker load) instead of a package link")
	fs.BoolVar(&o.OCI, "oci", false, "with -b: write an OCI image layout (a directory, or a tar if FILE ends in .tar)")
	fs.StringVar(&o.From, "from", "", "with -b: build on the base image in `BASE` (a `docker save` archive); store paths it holds are not added")
	fs.StringVar(&o.Push, "push", "", "with -b: push the image to an OCI registry as `REF` (host/repo:tag), sending only the layers it lacks")
	fs.BoolVar(&o.Insecure, "insecure", false, "with --push: the registry speaks plain HTTP")
}

func (o *imageFileOptions) check(out string) error {
	if !o.On {
		if o.OCI || o.From != "" || o.Push != "" {
			return usagef("build: --oci, --from and --push need -b")
		}
		return nil
	}
	if o.Insecure && o.Push == "" {
		return usagef("build: --insecure needs --push")
	}
	if o.OCI && out == "" {
		return usagef("build: --oci needs -o FILE, where the layout is written")
	}
	if out == "" && o.Push == "" {
		return usagef("build: -b needs -o FILE, where the image is written, or --push REF")
	}
	if o.Push != "" {
		ref, err := parsePushRef(o.Push, o.Insecure)
		if err != nil {
			return err
		}
		o.pushRef = ref
	}
	return nil
}

// runBuildImage writes the layered image of the built package pkg to
// o.OutLink and prints its ID and tag.
func runBuildImage(ctx context.Context, env *Env, o *buildOptions, pkg *manifest.Package) error {
	img, err := buildLayeredImage(ctx, env, pkg, o.Image.From)
	if err != nil {
		return err
	}
	if o.Image.pushRef != nil {
		if err := pushToRegistry(ctx, env, img, o.Image.pushRef); err != nil {
			return err
		}
		if o.OutLink == "" {
			return nil
		}
	}
	out := o.OutLink
	format := "docker-archive"
	switch {
	case o.Image.OCI && !strings.HasSuffix(out, ".tar"):
		format = "OCI layout directory"
		err = writeOCIDir(img, out)
	case o.Image.OCI:
		format = "OCI layout tar"
		err = writeFileAtomic(out, func(w io.Writer) error { return img.WriteOCIArchive(w) })
	default:
		err = writeFileAtomic(out, func(w io.Writer) error { return img.WriteDockerArchive(w, nil) })
	}
	if err != nil {
		return err
	}
	var size int64
	for _, l := range img.Layers {
		size += l.Size
	}
	fmt.Fprintf(env.Stderr, "wrote %s (%s, %d layers, %s) of %s\n", out, format, len(img.Layers), humanBytes(size), pkg.Path)
	fmt.Fprintf(env.Stdout, "%s %s\n", img.ID, img.RepoTag)
	return nil
}

// writeFileAtomic writes file through a temporary file renamed into place,
// so a failed write leaves no half image behind.
func writeFileAtomic(file string, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(file), ".nd-image-*")
	if err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("writing image to %s: %w", file, err)
	}
	return nil
}

// writeOCIDir writes an OCI layout into dir, replacing an earlier layout
// there (but no other directory).
func writeOCIDir(img *image.Image, dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); !fi.IsDir() || err != nil {
			return fmt.Errorf("writing image: %s exists and is not an OCI layout", dir)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".nd-oci-*")
	if err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := img.WriteOCILayout(tmp); err != nil {
		return err
	}
	os.Chmod(tmp, 0o755)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("writing image to %s: %w", dir, err)
	}
	return nil
}

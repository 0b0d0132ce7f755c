package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/nd-project/nd/internal/countio"
)

// Epoch is the modification time of every tar entry (1 second after the Unix
// epoch, like the store's own timestamps).
var Epoch = time.Unix(1, 0).UTC()

// Layer is one deterministic, uncompressed layer tar. It is produced on demand
// (WriteTo) so an image's layers can be streamed one by one, and only those the
// receiver lacks.
type Layer struct {
	// DiffID is "sha256:<hex>" of the uncompressed tar.
	DiffID string
	// Size is the tar's length in bytes.
	Size int64
	// Paths are the store paths the layer holds (nil for synthesized layers).
	Paths []string

	gen func(tw *tar.Writer) error
	// raw, if set, writes an existing layer tar as it is (base images).
	raw func(w io.Writer) error
}

// newLayer runs gen once to learn the layer's digest and size.
func newLayer(paths []string, gen func(tw *tar.Writer) error) (*Layer, error) {
	l := &Layer{Paths: paths, gen: gen}
	h := sha256.New()
	n, err := l.write(h)
	if err != nil {
		return nil, err
	}
	l.DiffID = "sha256:" + hex.EncodeToString(h.Sum(nil))
	l.Size = n
	return l, nil
}

// TarLayer is the layer whose tar is b, as it is (the metadata layer a
// client built, see proto.PrepareImage).
func TarLayer(b []byte) *Layer {
	sum := sha256.Sum256(b)
	return &Layer{
		DiffID: "sha256:" + hex.EncodeToString(sum[:]),
		Size:   int64(len(b)),
		raw: func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		},
	}
}

func (l *Layer) write(w io.Writer) (int64, error) {
	cw := &countio.Writer{W: w}
	if l.raw != nil {
		err := l.raw(cw)
		return cw.N, err
	}
	tw := tar.NewWriter(cw)
	if err := l.gen(tw); err != nil {
		return cw.N, err
	}
	if err := tw.Close(); err != nil {
		return cw.N, err
	}
	return cw.N, nil
}

// WriteTo writes the layer tar to w. It fails if the content no longer matches
// DiffID (a store path changed under us), after having written it.
func (l *Layer) WriteTo(w io.Writer) (int64, error) {
	h := sha256.New()
	n, err := l.write(io.MultiWriter(w, h))
	if err != nil {
		return n, fmt.Errorf("writing layer %s: %w", l.DiffID, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != l.DiffID || n != l.Size {
		return n, fmt.Errorf("layer %s changed while writing (now %s, %d bytes)", l.DiffID, got, n)
	}
	return n, nil
}

// Hex is the digest without its "sha256:" prefix.
func (l *Layer) Hex() string { return strings.TrimPrefix(l.DiffID, "sha256:") }

// header is the one place tar headers are made, so every entry is normalized
// the same way: uid/gid 0, no user/group names, fixed mtime, no atime/ctime.
// Go's tar writer then picks USTAR, or PAX only for long names, both a pure
// function of the header.
func header(name string, typ byte, mode int64, size int64, link string) *tar.Header {
	if typ == tar.TypeDir && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	return &tar.Header{
		Name:     name,
		Typeflag: typ,
		Mode:     mode,
		Size:     size,
		Linkname: link,
		ModTime:  Epoch,
	}
}

// storeParents are the directories above every store path. Every layer that
// holds store paths has them with the same header, so layer order does not
// change their metadata.
var storeParents = []string{"nix", "nix/store"}

const storeDirMode = 0o755

// StoreLayer makes a layer holding the given store paths (whole directories,
// files or symlinks under /nix/store), with the store's modes: files 0444 or
// 0555 if executable, directories 0555, symlinks kept as symlinks. Hard links
// become independent regular files.
func StoreLayer(paths []string) (*Layer, error) { return storeLayer("", nil, paths) }

// storeLayer reads the store paths below root (see Options.StoreRoot) and
// takes the digest from cache if it knows it.
func storeLayer(root string, cache DiffIDCache, paths []string) (*Layer, error) {
	ps := append([]string(nil), paths...)
	sort.Strings(ps)
	for i, p := range ps {
		if err := checkStorePath(p); err != nil {
			return nil, err
		}
		if i > 0 && ps[i-1] == p {
			return nil, fmt.Errorf("store path %s twice in one layer", p)
		}
	}
	gen := func(tw *tar.Writer) error {
		for _, d := range storeParents {
			if err := tw.WriteHeader(header(d, tar.TypeDir, storeDirMode, 0, "")); err != nil {
				return err
			}
		}
		for _, p := range ps {
			if err := addStoreTree(tw, root+p, strings.TrimPrefix(p, "/")); err != nil {
				return fmt.Errorf("adding %s to layer: %w", p, err)
			}
		}
		return nil
	}
	if cache == nil {
		return newLayer(ps, gen)
	}
	key := cacheKey(ps)
	if id, size, ok := cache.Get(key); ok {
		return &Layer{DiffID: id, Size: size, Paths: ps, gen: gen}, nil
	}
	l, err := newLayer(ps, gen)
	if err == nil {
		cache.Put(key, l.DiffID, l.Size)
	}
	return l, err
}

func checkStorePath(p string) error {
	if path.Clean(p) != p || path.Dir(p) != "/nix/store" || len(path.Base(p)) < 34 {
		return fmt.Errorf("%q is not a store path", p)
	}
	return nil
}

// addStoreTree adds file p as name, and everything under it, parents before
// children, children in name order.
func addStoreTree(tw *tar.Writer, p, name string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return tw.WriteHeader(header(name, tar.TypeSymlink, 0o777, 0, target))
	case fi.Mode().IsRegular():
		mode := int64(0o444)
		if fi.Mode()&0o111 != 0 {
			mode = 0o555
		}
		return addFile(tw, p, name, mode, fi.Size())
	case fi.IsDir():
		if err := tw.WriteHeader(header(name, tar.TypeDir, 0o555, 0, "")); err != nil {
			return err
		}
		ents, err := os.ReadDir(p) // sorted by name
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := addStoreTree(tw, p+"/"+e.Name(), name+"/"+e.Name()); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%s: unsupported file type %v", p, fi.Mode().Type())
	}
}

func addFile(tw *tar.Writer, src, name string, mode, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(header(name, tar.TypeReg, mode, size, "")); err != nil {
		return err
	}
	n, err := io.Copy(tw, io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: size changed while reading", src)
	}
	return nil
}

// File is one entry of a synthesized layer.
type File struct {
	// Path is absolute in the container, e.g. "/etc/passwd".
	Path string
	// Mode holds the permission bits and fs.ModeDir, fs.ModeSymlink,
	// fs.ModeSticky as needed; a zero type means a regular file.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
	// Target is a symlink's target.
	Target string
}

// FilesLayer makes a layer from synthesized files. Missing parent directories
// are added with mode 0755.
func FilesLayer(files []File) (*Layer, error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("layer file %q: want an absolute path below /", f.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("layer file %s twice", p)
		}
		f.Path = p
		byPath[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = File{Path: d, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	for p, f := range byPath {
		if f.Mode.IsDir() {
			continue
		}
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if !byPath[d].Mode.IsDir() {
				return nil, fmt.Errorf("layer file %s: parent %s is not a directory", p, d)
			}
		}
	}
	ps := make([]string, 0, len(byPath))
	for p := range byPath {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return newLayer(nil, func(tw *tar.Writer) error {
		for _, p := range ps {
			f := byPath[p]
			name := strings.TrimPrefix(p, "/")
			mode := int64(f.Mode.Perm())
			if f.Mode&fs.ModeSticky != 0 {
				mode |= 0o1000
			}
			var err error
			switch {
			case f.Mode.IsDir():
				err = tw.WriteHeader(header(name, tar.TypeDir, mode, 0, ""))
			case f.Mode&fs.ModeSymlink != 0:
				err = tw.WriteHeader(header(name, tar.TypeSymlink, 0o777, 0, f.Target))
			case f.Mode.Type() == 0:
				if err = tw.WriteHeader(header(name, tar.TypeReg, mode, int64(len(f.Data)), "")); err == nil {
					_, err = tw.Write(f.Data)
				}
			default:
				err = fmt.Errorf("layer file %s: unsupported mode %v", p, f.Mode)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// digestHex is sha256 of data as hex.
func digestHex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

//go:build linux

package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nd-project/nd/internal/manifest"
)

// The manifest's etc is read by nd-agent as root and copied into a
// world-readable image layer, so what it names must not reach outside the
// package: every file read lies in a store path of the package's closure,
// and no link may lead elsewhere (an etc holding `shadow -> /etc/shadow`
// must not copy the host's shadow file).
//
// Each file is opened afresh from a descriptor of the store directory with
// openat2(RESOLVE_BENEATH): the kernel refuses any step out of the store
// ("..", absolute or escaping links, magic links), races included. Links
// are followed one hop at a time in user space, each target checked to be
// a clean store path of the closure; where the opened file really lies is
// checked again from /proc/self/fd.

// Limits on what /etc may hold, so a bad manifest cannot make huge layers.
const (
	maxEtcBytes = 64 << 20
	maxEtcDepth = 16
	maxEtcHops  = 40 // as the kernel's MAXSYMLINKS
)

// confined opens store files by their /nix/store/... path below one store
// directory, allowing only store paths that allowed accepts.
type confined struct {
	store   int    // O_PATH descriptor of the store directory
	real    string // its real path, as /proc/self/fd shows it
	allowed func(storePath string) bool
}

// openat2 is unix.Openat2; tests replace it to run the fallback.
var openat2 = unix.Openat2

func openConfined(root string, allowed func(string) bool) (*confined, error) {
	dir := root + manifest.StoreDir
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locating %s: %w", dir, err)
	}
	if allowed == nil {
		allowed = func(string) bool { return true }
	}
	return &confined{store: fd, real: real, allowed: allowed}, nil
}

func (c *confined) close() { unix.Close(c.store) }

// open resolves the store file p (following links hop by hop) and opens
// it with flags; it returns the descriptor and the path it resolved to.
func (c *confined) open(p string, flags int) (int, string, error) {
	orig := p
	for hop := 0; hop <= maxEtcHops; hop++ {
		if err := manifest.CheckStorePath("path", p); err != nil {
			return -1, "", fmt.Errorf("%s leads to %q: out of the store", orig, p)
		}
		if sp := manifest.StorePathOf(p); !c.allowed(sp) {
			return -1, "", fmt.Errorf("%s leads to %s: %w", orig, sp, ErrOutsideClosure)
		}
		rel := strings.TrimPrefix(p, manifest.StoreDir+"/")
		fd, err := openBeneath(c.store, rel, unix.O_PATH|unix.O_NOFOLLOW, false)
		if err != nil {
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
				return -1, "", fmt.Errorf("%s: a link on the way to %s leads out of the store or is absolute", orig, p)
			}
			return -1, "", fmt.Errorf("opening %s: %w", p, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, "", fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := readlinkFd(fd)
			unix.Close(fd)
			if err != nil {
				return -1, "", fmt.Errorf("reading link %s: %w", p, err)
			}
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			p = path.Clean(target)
			continue
		}
		// Where it really is: relative links inside the path were resolved
		// by the kernel, within the store but perhaps outside the closure.
		real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		unix.Close(fd)
		if err != nil {
			return -1, "", fmt.Errorf("locating %s: %w", p, err)
		}
		inStore, ok := strings.CutPrefix(real, c.real+"/")
		if !ok {
			return -1, "", fmt.Errorf("%s resolves to %s: out of the store", orig, real)
		}
		p = manifest.StoreDir + "/" + inStore
		if sp := manifest.StorePathOf(p); !c.allowed(sp) {
			return -1, "", fmt.Errorf("%s leads to %s: %w", orig, sp, ErrOutsideClosure)
		}
		fd, err = openBeneath(c.store, inStore, flags|unix.O_NOFOLLOW, true)
		if err != nil {
			return -1, "", fmt.Errorf("opening %s: %w", p, err)
		}
		return fd, p, nil
	}
	return -1, "", fmt.Errorf("%s: more than %d links (a loop?)", orig, maxEtcHops)
}

// openBeneath opens rel below dirfd without ever leaving it: openat2 with
// RESOLVE_BENEATH (and, with noLinks, RESOLVE_NO_SYMLINKS). Kernels before
// 5.6 lack openat2; there it walks rel one component at a time with
// O_NOFOLLOW, refusing "..", and links anywhere but at the end — stricter
// than the kernel, never looser.
func openBeneath(dirfd int, rel string, flags int, noLinks bool) (int, error) {
	resolve := uint64(unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS)
	if noLinks {
		resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	fd, err := openat2(dirfd, rel, &unix.OpenHow{Flags: uint64(flags) | unix.O_CLOEXEC, Resolve: resolve})
	if !errors.Is(err, unix.ENOSYS) {
		return fd, err
	}
	parts := strings.Split(rel, "/")
	cur := dirfd
	for i, part := range parts {
		if part == "" || part == "." || part == ".." {
			if cur != dirfd {
				unix.Close(cur)
			}
			return -1, unix.EXDEV
		}
		f := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		next, err := unix.Openat(cur, part, f, 0)
		if cur != dirfd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		if i < len(parts)-1 {
			var st unix.Stat_t
			if err := unix.Fstat(next, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				unix.Close(next)
				return -1, unix.ELOOP
			}
		}
		cur = next
	}
	return cur, nil
}

func readlinkFd(fd int) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// etcFiles copies the tree at etc (a store path or below one) into files
// under /etc: links followed (copied, not linked, so /etc works without
// the store), confined as above.
func etcFiles(root, etc string, allowed func(string) bool) ([]File, error) {
	c, err := openConfined(root, allowed)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var files []File
	var total int64
	var walk func(src, dst string, depth int) error
	walk = func(src, dst string, depth int) error {
		if depth > maxEtcDepth {
			return fmt.Errorf("%s: nested too deep (symlink loop?)", src)
		}
		fd, resolved, err := c.open(src, unix.O_RDONLY)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), resolved)
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if depth > 0 {
				files = append(files, File{Path: dst, Mode: fs.ModeDir | 0o755})
			}
			ents, err := f.ReadDir(-1)
			if err != nil {
				return fmt.Errorf("listing %s: %w", resolved, err)
			}
			sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
			for _, e := range ents {
				if err := walk(resolved+"/"+e.Name(), path.Join(dst, e.Name()), depth+1); err != nil {
					return err
				}
			}
		case fi.Mode().IsRegular():
			if depth == 0 {
				return fmt.Errorf("%s is not a directory", src)
			}
			total += fi.Size()
			if total > maxEtcBytes {
				return fmt.Errorf("%s: more than %d bytes", etc, maxEtcBytes)
			}
			data, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
			if err != nil {
				return fmt.Errorf("reading %s: %w", resolved, err)
			}
			mode := fs.FileMode(0o644)
			if fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			files = append(files, File{Path: dst, Mode: mode, Data: data})
		default:
			return fmt.Errorf("%s: unsupported file type %v", src, fi.Mode().Type())
		}
		return nil
	}
	if err := walk(etc, "/etc", 0); err != nil {
		return nil, fmt.Errorf("copying /etc from %s: %w", etc, err)
	}
	return files, nil
}

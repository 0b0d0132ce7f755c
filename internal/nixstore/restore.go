package nixstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// RestoreImport is `nix-store --import` in bounded memory. Nix 2.8's
// importer reads each path's whole NAR into memory before writing it out,
// so a 1 GB path needs more than 1 GB of RAM on the host; Nix's other
// streaming way in, the daemon protocol's wopAddToStoreNar, needs a
// nix-daemon that bookworm's Nix does not run. So the stream is validated
// by the decoder CopyExport uses, each NAR is restored as it arrives into a
// temporary directory beside the store's paths (same file system: a rename
// moves it into place), with Nix's canonical metadata (modes 0444/0555,
// mtime 1) and its SHA-256 computed on the way, and the paths are then
// registered with `nix-store --load-db`, whose input names each path's NAR
// hash, size, deriver and references (the format of --dump-db). That is
// what nix-store --import records for an unsigned export, from the same
// bytes: a path's hash is of the NAR it was restored from.
//
// Restored paths wait in their temporary directories (dot names, which no
// store path has) until a batch of restoreBatch is complete, the stream
// pauses for registerIdle, or it ends; then a goroutine of its own moves
// each into place under Nix's own lock (PATH.lock, a POSIX record lock, as
// nix-store and nix-daemon take) and registers the batch at once,
// dependencies first, so a path sits in the store invalid only for that
// moment. An error registers the paths that were
// complete before it (as nix-store --import keeps the entries it finished),
// so a cut stream leaves every path imported completely or not at all.
// Paths become valid batch by batch, not one by one.
//
// Memory: the decoder's buffers and one file's copy buffer, whatever the
// size of a path. Stats says where the time went.
func (s *Store) RestoreImport(ctx context.Context, r io.Reader, opts ExportOptions) ([]Entry, RestoreStats, error) {
	rs := &restorer{ctx: ctx, store: s, dir: s.RealPath(StoreDir), h: sha256.New()}
	if s.Root != "" {
		// A chroot store that no nix-store command has created yet.
		if err := os.MkdirAll(rs.dir, 0o755); err != nil {
			return nil, RestoreStats{}, fmt.Errorf("restoring into %s: %w", rs.dir, err)
		}
	}
	unlock, err := s.restoreLock(unix.LOCK_SH)
	if err != nil {
		return nil, RestoreStats{}, err
	}
	defer unlock()
	d := &decoder{
		src:  bufio.NewReaderSize(r, 256<<10),
		opts: opts,
		seen: map[string]bool{},
		fs:   rs,
	}
	d.out = bufio.NewWriterSize(rs, 256<<10)
	rs.queue, rs.regDone = make(chan pendingPath, restoreBatch), make(chan struct{})
	go rs.registrar()
	entries, err := d.stream()
	if ferr := d.out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	rs.discard()
	// Register what is complete, even after an error: those entries were
	// accepted whole.
	close(rs.queue)
	t := time.Now()
	<-rs.regDone
	rs.stats.RegisterWait = time.Since(t)
	if rs.regErr != nil && err == nil {
		err = &StoreError{Err: rs.regErr}
	}
	if err != nil {
		// Entries not registered are not imported.
		entries = entries[:min(len(entries), rs.registered)]
	}
	return entries, rs.stats, err
}

// StoreError is a failure of RestoreImport to write or register a path
// that arrived whole and valid: the host's fault, not the stream's.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// RestoreStats is where RestoreImport's time went.
type RestoreStats struct {
	Write    time.Duration // creating files and writing their contents
	Hash     time.Duration // hashing the NARs
	Register time.Duration // nix-store --load-db, wall time (beside the restoring)
	// RegisterWait is what the import waited, once the stream ended, for
	// the registration of the last batch: the part of Register not
	// overlapped with the stream.
	RegisterWait time.Duration
	RegisterCPU  time.Duration // nix-store --load-db, user+system CPU
}

// CanRestore reports whether RestoreImport can write into the store
// directory (it cannot where the store is a read-only mount that only the
// nix-daemon remounts, as on NixOS); the caller then uses StartImport.
func (s *Store) CanRestore() bool {
	dir, err := os.MkdirTemp(s.RealPath(StoreDir), restorePrefix)
	if err != nil {
		return false
	}
	os.Remove(dir)
	return true
}

// restoreBatch is how many paths one nix-store --load-db registers: enough to
// spread its start-up cost, few enough that the locks held until then stay
// well under a process's file descriptor limit.
const restoreBatch = 64

// narSink is what the decoder tells about each NAR as it validates it.
// Paths are relative to the NAR's root ("" is the root, else "/a/b").
type narSink interface {
	beginNar() error
	mkdir(path string) error
	dirDone(path string) error
	file(path string, executable bool) (io.WriteCloser, error)
	symlink(path, target string) error
	endNar()
	commit(e Entry) error
}

type restorer struct {
	ctx   context.Context
	store *Store
	dir   string // the store directory on disk

	h       hash.Hash
	hashing bool
	tmp     string // the NAR being restored, "" between NARs
	narHash []byte

	// The registrar goroutine's: what commit queues, and once regDone is
	// closed, how many leading entries it registered and its error.
	queue      chan pendingPath
	regDone    chan struct{}
	regFailed  atomic.Bool
	regErr     error
	registered int
	stats      RestoreStats // Register and RegisterCPU are the registrar's
}

type pendingPath struct {
	e    Entry
	hash string
	tmp  string // where it was restored; "" once moved into place
}

var _ narSink = (*restorer)(nil)

// Write receives the decoder's output: between beginNar and endNar, the
// NAR's bytes, which are hashed; the export's framing is dropped.
func (r *restorer) Write(p []byte) (int, error) {
	if r.hashing {
		t := time.Now()
		r.h.Write(p)
		r.stats.Hash += time.Since(t)
	}
	return len(p), nil
}

func (r *restorer) beginNar() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	b := make([]byte, 8)
	rand.Read(b)
	// A name that is not a store path, beside them on the same file system.
	r.tmp = filepath.Join(r.dir, restorePrefix+hex.EncodeToString(b))
	r.h.Reset()
	r.hashing = true
	return nil
}

func (r *restorer) endNar() {
	r.hashing = false
	r.narHash = r.h.Sum(nil)
}

func (r *restorer) real(p string) string { return r.tmp + p }

// storeErr marks an error of the sink as the store's (nil stays nil).
func storeErr(err error) error {
	var se *StoreError
	if err == nil || errors.As(err, &se) {
		return err
	}
	return &StoreError{Err: err}
}

func (r *restorer) mkdir(p string) error {
	t := time.Now()
	defer func() { r.stats.Write += time.Since(t) }()
	if err := os.Mkdir(r.real(p), 0o755); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	return nil
}

// dirDone gives a directory its final metadata once its entries exist
// (adding them changes its mtime).
func (r *restorer) dirDone(p string) error {
	return r.canonical(r.real(p), 0o555)
}

func (r *restorer) canonical(path string, mode os.FileMode) error {
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	return r.mtime1(path)
}

// mtime1 sets Nix's canonical timestamp (1 s after the epoch) without
// following a symlink.
func (r *restorer) mtime1(path string) error {
	ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("restoring %s: setting its time: %w", path, err)
	}
	return nil
}

func (r *restorer) file(p string, executable bool) (io.WriteCloser, error) {
	mode := os.FileMode(0o444)
	if executable {
		mode = 0o555
	}
	t := time.Now()
	f, err := os.OpenFile(r.real(p), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	r.stats.Write += time.Since(t)
	if err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	if umaskStrips(mode) {
		if err := f.Chmod(mode); err != nil {
			f.Close()
			return nil, fmt.Errorf("restoring: %w", err)
		}
	}
	return &restoredFile{f: f, r: r}, nil
}

type restoredFile struct {
	f      *os.File
	r      *restorer
	closed bool
}

func (w *restoredFile) Write(p []byte) (int, error) {
	t := time.Now()
	n, err := w.f.Write(p)
	w.r.stats.Write += time.Since(t)
	if err != nil {
		return n, &StoreError{Err: fmt.Errorf("restoring: %w", err)}
	}
	return n, nil
}

func (w *restoredFile) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	terr := w.r.mtime1(w.f.Name())
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	return terr
}

func (r *restorer) symlink(p, target string) error {
	t := time.Now()
	defer func() { r.stats.Write += time.Since(t) }()
	if err := os.Symlink(target, r.real(p)); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	return r.mtime1(r.real(p))
}

// commit queues the restored NAR for registration; it stays in its
// temporary directory (a dot name, which no store path has) until then.
func (r *restorer) commit(e Entry) error {
	if r.regFailed.Load() {
		return errors.New("registering restored paths failed")
	}
	r.queue <- pendingPath{e: e, hash: "sha256:" + hex.EncodeToString(r.narHash), tmp: r.tmp}
	r.tmp = ""
	return nil
}

// removeTree removes a restored tree whose directories are read-only.
func removeTree(path string) error {
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

var (
	umaskOnce sync.Once
	umask     os.FileMode = 0o777 // unknown: assume it strips everything
)

// umaskStrips reports whether the process's umask takes bits away from
// mode, so that a file created with it needs a chmod (the agent's systemd
// unit has UMask=0077; a shell's 022 strips nothing from 0444 or 0555).
// The umask is read from /proc/self/status, since umask(2) can only be read
// by changing it, for every thread at once.
func umaskStrips(mode os.FileMode) bool {
	umaskOnce.Do(func() {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					umask = os.FileMode(n)
				}
			}
		}
	})
	return mode&umask != 0
}

package nixstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// restorePrefix names RestoreImport's temporary directories beside the
// store's paths: a dot name, which no store path has, so Nix leaves them be.
const restorePrefix = ".nd-restore-"

// restoreLockFile is the lock every RestoreImport holds shared while it
// writes temporaries, and RestoreLeftovers takes exclusively, so it never
// removes what a running restore (of this process or another) is writing.
// A flock ends with its process, so a killed agent holds nothing. It lives
// in Nix's state directory, not the store directory, whose stray entries a
// full garbage collection deletes.
const restoreLockFile = "/nix/var/nix/nd-restore.lock"

// restoreLock takes s's restore lock (how: LOCK_SH or LOCK_EX, possibly
// with LOCK_NB) and returns its release.
func (s *Store) restoreLock(how int) (func(), error) {
	p := s.RealPath(restoreLockFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

// RestoreLeftovers lists the temporary directories that restores cut off
// by their process's death (an agent killed, a host rebooted mid-import)
// left in the store directory and, with remove, removes them. It returns
// the names it found, store-relative; none while a restore is running.
func (s *Store) RestoreLeftovers(remove bool) ([]string, error) {
	dir := s.RealPath(StoreDir)
	if _, err := os.Stat(dir); err != nil {
		return nil, nil // no store here (a droplet without Nix): no restores either
	}
	unlock, err := s.restoreLock(unix.LOCK_EX | unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, nil // a restore is writing; a later look finds what is left
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS) {
		return nil, nil // no store here, or one only nix-daemon writes: no restores either
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var found []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), restorePrefix) {
			continue
		}
		if remove {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return found, fmt.Errorf("removing %s: %w", filepath.Join(dir, e.Name()), err)
			}
		}
		found = append(found, filepath.Join(StoreDir, e.Name()))
	}
	return found, nil
}

// The registration half of RestoreImport: restored paths moved into place
// under Nix's locks and made valid with nix-store --load-db.

package nixstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// registerIdle is how long the registrar waits for more paths before it
// registers those it has: a stream that pauses (a big path on a slow link)
// leaves the paths before it valid, as nix-store --import would.
const registerIdle = 100 * time.Millisecond

// registrar registers what commit queues, in batches of restoreBatch or
// whatever arrived before the stream paused for registerIdle, beside the
// restoring (nix-store --load-db overlaps the next paths' arrival).
func (r *restorer) registrar() {
	defer close(r.regDone)
	var batch []pendingPath
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	flush := func() {
		if r.regErr == nil {
			n, err := r.register(batch)
			r.registered += n
			if err != nil {
				r.regErr = err
				r.regFailed.Store(true)
			}
		} else {
			for _, p := range batch {
				removeTree(p.tmp)
			}
		}
		batch = nil
	}
	for {
		select {
		case p, ok := <-r.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, p)
			if len(batch) >= restoreBatch {
				flush()
			} else {
				idle.Reset(registerIdle)
			}
		case <-idle.C:
			if len(batch) > 0 {
				flush()
			}
		}
	}
}

// discard removes the NAR being restored, if any.
func (r *restorer) discard() {
	if r.tmp != "" {
		removeTree(r.tmp)
		r.tmp = ""
	}
}

// register moves the pending paths into place, each under its lock, and
// makes them valid with one nix-store --load-db, so that a path sits in
// the store invalid only for that moment (as with nix-store --import,
// which restores a path where it belongs and then registers it). A path
// that became valid meanwhile (another import, a substitution) is left as
// it is and its copy removed; an invalid leftover of one that died is
// replaced. On an error the paths before the failing one are still
// registered.
func (r *restorer) register(pending []pendingPath) (int, error) {
	if len(pending) == 0 {
		return 0, nil
	}
	var moved []pendingPath
	var locks []*os.File
	defer func() {
		for _, l := range locks {
			unlockPath(l)
		}
		for _, p := range pending {
			if p.tmp != "" {
				removeTree(p.tmp)
			}
		}
	}()
	ok := 0 // leading entries that are, or will be, valid
	var err error
	for i := range pending {
		p := &pending[i]
		final := r.store.RealPath(p.e.Path)
		var lock *os.File
		if lock, err = lockPath(r.ctx, final+".lock"); err != nil {
			break
		}
		locks = append(locks, lock)
		if _, serr := os.Lstat(final); serr == nil {
			var v map[string]bool
			if v, err = r.store.QueryValid(context.WithoutCancel(r.ctx), []string{p.e.Path}); err != nil {
				break
			}
			if v[p.e.Path] {
				ok++
				continue // the defer removes our copy
			}
			if err = removeTree(final); err != nil {
				err = fmt.Errorf("removing the invalid leftover %s: %w", final, err)
				break
			}
		}
		if err = os.Rename(p.tmp, final); err != nil {
			err = fmt.Errorf("moving %s into place: %w", p.e.Path, err)
			break
		}
		p.tmp = ""
		moved = append(moved, *p)
		ok++
	}
	if rerr := r.loadDB(moved); rerr != nil {
		for _, p := range moved {
			// Not valid: not left to look like a store path either.
			removeTree(r.store.RealPath(p.e.Path))
		}
		return 0, rerr
	}
	return ok, err
}

// loadDB registers paths with nix-store --load-db.
func (r *restorer) loadDB(paths []pendingPath) error {
	if len(paths) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, p := range paths {
		e := p.e
		fmt.Fprintf(&in, "%s\n%s\n%d\n%s\n%d\n", e.Path, p.hash, e.NarSize, e.Deriver, len(e.References))
		for _, ref := range e.References {
			in.WriteString(ref + "\n")
		}
	}
	t := time.Now()
	c := r.store.cmd(context.WithoutCancel(r.ctx), "--load-db")
	var stderr bytes.Buffer
	c.Stdin, c.Stderr = &in, &stderr
	err := c.Run()
	r.stats.Register += time.Since(t)
	if c.ProcessState != nil {
		r.stats.RegisterCPU += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	if err != nil {
		return fmt.Errorf("registering %d restored paths (nix-store --load-db): %w: %s", len(paths), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// lockPath takes Nix's lock on a store path: a write record lock on
// PATH.lock. A lock file that its last holder deleted (it wrote a byte into
// it first, as Nix does) is stale: open it again.
func lockPath(ctx context.Context, name string) (*os.File, error) {
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", name, err)
		}
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
		for {
			err = syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", name, err)
		}
		if st, err := f.Stat(); err == nil && st.Size() == 0 {
			return f, nil
		}
		f.Close()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// unlockPath releases a lock from lockPath and deletes its file the way
// Nix does: unlinked and marked stale while still held, so that a waiter
// that then gets it opens a new one.
func unlockPath(f *os.File) {
	os.Remove(f.Name())
	f.Write([]byte("d"))
	f.Close()
}

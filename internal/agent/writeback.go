package agent

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// DataRooter is optionally implemented by a Runtime: the directory where
// dockerd keeps its images and containers, written back like the store.
type DataRooter interface {
	DataRoot(ctx context.Context) (string, error)
}

// writeback starts writing the file systems of the store, of dockerd's data
// root and of the agent's image store to disk in the background (syncfs) and
// returns at once. A deploy waits for that write either way: Docker's
// overlay2 mounts and unmounts each new container's init layer, and
// unmounting an overlay syncs its upper file system, which on a droplet is
// the same disk as /nix and /var/lib; a pull's commit syncs it too.
// Measured on the benchmark droplets, the first container created after
// 509 MiB arrived took 0.5-0.75 s, the next 0.05 s; after an image-mode
// pull of 540 MiB, 1.26 s. Substitutions, imports and image pulls therefore
// write back as they go (writebackWhile).
//
// At most one writeback runs; a request while it does runs one more after
// it, so what arrived later is written too.
func (a *Agent) writeback() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.syncing {
		a.syncAgain = true
		return
	}
	a.syncing = true
	go a.runWriteback()
}

// writebackInterval is how often writebackWhile starts a writeback.
const writebackInterval = 250 * time.Millisecond

// writebackWhile writes back every writebackInterval until stop is called,
// and once more then: while a substitution, import or pull fills the disk,
// so that what the deploy waits for at the end is the last quarter-second's
// data, not all of it. A droplet with little memory does much of this
// anyway (its kernel starts writing back at a tenth of its memory dirty);
// one with plenty would hold it all until the deploy.
func (a *Agent) writebackWhile() (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(writebackInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				a.writeback()
			}
		}
	}()
	return func() {
		close(done)
		a.writeback()
	}
}

func (a *Agent) runWriteback() {
	dirs := a.writebackDirs()
	for {
		start := time.Now()
		var errs []error
		for _, d := range dirs {
			if err := syncfs(d); err != nil {
				errs = append(errs, err)
			}
		}
		a.log.Debug("written back", "dirs", dirs, "took", time.Since(start).Round(time.Millisecond), "errors", errs)
		a.mu.Lock()
		if !a.syncAgain {
			a.syncing = false
			a.mu.Unlock()
			return
		}
		a.syncAgain = false
		a.mu.Unlock()
	}
}

// writebackDirs are the directories whose file systems a writeback syncs,
// one for each file system: the store's, dockerd's data root's (asked once)
// and the image store's. Those that do not exist are left out.
func (a *Agent) writebackDirs() []string {
	a.mu.Lock()
	root, asked := a.dataRoot, a.dataRootAsked
	a.mu.Unlock()
	// dockerd may not be up yet: asked again a minute later, not at
	// every writeback.
	if dr, ok := a.cfg.Runtime.(DataRooter); ok && root == "" && time.Since(asked) > time.Minute {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := dr.DataRoot(ctx)
		cancel()
		a.mu.Lock()
		a.dataRootAsked = time.Now()
		if err == nil {
			root, a.dataRoot = r, r
		}
		a.mu.Unlock()
	}
	cands := []string{a.cfg.Store.RealPath("/nix/store"), root}
	if a.cfg.Images != nil {
		cands = append(cands, a.cfg.Images.Store().Dir())
	}
	var dirs []string
	seen := map[uint64]bool{}
	for _, d := range cands {
		var st unix.Stat_t
		if d == "" || unix.Stat(d, &st) != nil || seen[st.Dev] {
			continue
		}
		seen[st.Dev] = true
		dirs = append(dirs, d)
	}
	return dirs
}

func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

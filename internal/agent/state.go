package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/nd-project/nd/internal/proto"
)

const stateVersion = 1

// appState is StateDir/apps/<app>/state.json.
type appState struct {
	Version     int                `json:"version"`
	App         string             `json:"app"`
	Current     int                `json:"current"` // 0: none
	Generations []proto.Generation `json:"generations"`
}

func (s *appState) current() *proto.Generation {
	for i := range s.Generations {
		if s.Generations[i].Number == s.Current {
			return &s.Generations[i]
		}
	}
	return nil
}

func (s *appState) next() int {
	n := 0
	for _, g := range s.Generations {
		n = max(n, g.Number)
	}
	return n + 1
}

func (a *Agent) appsDir() string { return filepath.Join(a.cfg.StateDir, "apps") }

func (a *Agent) statePath(app string) string {
	return filepath.Join(a.appsDir(), app, "state.json")
}

// StateError is a state file of one app that cannot be read. It concerns
// that app only: other apps deploy and report as usual.
type StateError struct {
	App  string
	File string
	Err  error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("the state of %s in %s is unreadable (%v): run `nd-agent check --repair` on this host to rebuild it from the app's GC roots, images and container (the unreadable file is kept beside it), or restore the file from a backup", e.App, e.File, e.Err)
}

func (e *StateError) Unwrap() error { return e.Err }

func (a *Agent) loadState(app string) (*appState, error) {
	st := &appState{Version: stateVersion, App: app}
	p := a.statePath(app)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of %s in %s: %w", app, p, err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, &StateError{App: app, File: p, Err: err}
	}
	if st.Version != stateVersion {
		return nil, &StateError{App: app, File: p, Err: fmt.Errorf("version %d, this nd-agent reads %d", st.Version, stateVersion)}
	}
	if st.App != app {
		return nil, &StateError{App: app, File: p, Err: fmt.Errorf("it names app %q", st.App)}
	}
	return st, nil
}

// clone returns a deep copy of s.
func (s *appState) clone() *appState {
	c := *s
	c.Generations = append([]proto.Generation(nil), s.Generations...)
	return &c
}

// saveState writes the state atomically: a temporary file, fsync, rename,
// fsync of the directory.
func (a *Agent) saveState(st *appState) error {
	p := a.statePath(st.App)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return stateWriteError("saving state of "+st.App, p, err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("saving state of %s: %w", st.App, err)
	}
	if err := writeFileAtomic(p, append(data, '\n'), 0o600); err != nil {
		return stateWriteError("saving state of "+st.App, p, err)
	}
	return nil
}

// stateWriteError names the file, and for a full disk says so plainly.
func stateWriteError(step, file string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%s: no space left in %s for %s: free some space there and push again: %w", step, filepath.Dir(file), filepath.Base(file), err)
	}
	return fmt.Errorf("%s in %s: %w", step, file, err)
}

func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

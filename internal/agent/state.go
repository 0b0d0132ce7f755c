package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

func (a *Agent) loadState(app string) (*appState, error) {
	st := &appState{Version: stateVersion, App: app}
	data, err := os.ReadFile(a.statePath(app))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", app, err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", app, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("reading state of %s: version %d, this nd-agent reads %d", app, st.Version, stateVersion)
	}
	return st, nil
}

// saveState writes the state atomically: a temporary file, fsync, rename,
// fsync of the directory.
func (a *Agent) saveState(st *appState) error {
	p := a.statePath(st.App)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("saving state of %s: %w", st.App, err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("saving state of %s: %w", st.App, err)
	}
	if err := writeFileAtomic(p, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving state of %s: %w", st.App, err)
	}
	return nil
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
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/nd-project/nd/internal/nixcmd"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
	"golang.org/x/sys/unix"
)

// Capabilities checks what this host can do: a usable Nix (nix-store on
// PATH or where installers put it, the store writable) and a reachable
// container runtime.
func (a *Agent) Capabilities(ctx context.Context) proto.Capabilities {
	caps := proto.Capabilities{StoreDir: nixstore.StoreDir, StateDir: a.cfg.StateDir}
	if err := a.nixUsable(); err != nil {
		caps.NixError = err.Error()
	} else {
		caps.Nix = true
	}
	switch rt := a.cfg.Runtime.(type) {
	case nil:
		caps.DockerError = "no container runtime configured"
	case Pinger:
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := rt.Ping(pctx); err != nil {
			caps.DockerError = err.Error()
		} else {
			caps.Docker = true
			a.dockerOK.Store(time.Now().UnixNano())
		}
	default:
		caps.Docker = true
	}
	return caps
}

// dockerOKFor is how long a ping dockerd answered vouches for it: a burst
// of requests (a deploy's, a status of many apps) pings once. Failures are
// never remembered.
const dockerOKFor = time.Second

// requireDocker fails with CodeNoDocker when the runtime does not answer,
// so that no request reports on or changes apps it could not ask about.
func (a *Agent) requireDocker(ctx context.Context) error {
	p, ok := a.cfg.Runtime.(Pinger)
	if !ok {
		return nil
	}
	if last := a.dockerOK.Load(); last != 0 && time.Since(time.Unix(0, last)) < dockerOKFor {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Ping(pctx); err != nil {
		return withCode(proto.CodeNoDocker, err)
	}
	a.dockerOK.Store(time.Now().UnixNano())
	return nil
}

func (a *Agent) nixUsable() error {
	if _, err := nixcmd.Find(a.cfg.NixStoreProgram); err != nil {
		return err
	}
	// The store, or for a fresh chroot store the nearest existing parent,
	// must be writable.
	dir := a.cfg.Store.RealPath(nixstore.StoreDir)
	for {
		err := unix.Access(dir, unix.W_OK)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			return fmt.Errorf("%s is not writable: %w", a.cfg.Store.RealPath(nixstore.StoreDir), err)
		}
		dir = filepath.Dir(dir)
	}
}

func (a *Agent) requireNix() error {
	if err := a.nixUsable(); err != nil {
		return withCode(proto.CodeNoNix, fmt.Errorf("this host has no usable Nix: %w", err))
	}
	return nil
}

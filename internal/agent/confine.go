package agent

import (
	"context"
	"fmt"
	"path"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// packageClosure returns the closure of deploy package pkg after checking
// that every store path its manifest names lies in it. The agent reads and
// runs what a manifest names as root; a client may send any manifest, so a
// path outside the package's own closure (another app's files, or anything
// else on the host) is refused before anything changes. The runtime gets
// the closure too, so links inside etc are held to it (see
// internal/image/etc.go).
func (a *Agent) packageClosure(ctx context.Context, pkg string, m *manifest.Manifest) ([]string, error) {
	closure, err := a.cfg.Store.Requisites(ctx, pkg)
	if err != nil {
		return nil, fmt.Errorf("checking deploy package %s: %w", pkg, err)
	}
	in := map[string]bool{}
	for _, p := range closure {
		in[p] = true
	}
	named := []struct{ what, p string }{{"etc", m.Etc}, {"init", m.Init}, {"processesFile", m.ProcessesFile}}
	if e := m.Entrypoint[0]; path.IsAbs(e) && manifest.CheckStorePath("entrypoint", e) == nil {
		named = append(named, struct{ what, p string }{"entrypoint", e})
	}
	for _, f := range named {
		if f.p == "" {
			continue
		}
		if sp := manifest.StorePathOf(f.p); !in[sp] {
			return nil, codef(proto.CodeBadRequest, "deploy package %s: manifest %s %s is not in the package's closure: refused", pkg, f.what, f.p)
		}
	}
	return closure, nil
}

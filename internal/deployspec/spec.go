// Package deployspec is what nd-agent asks its container runtime to run for
// an app. The agent makes a Spec once, from a deploy request or a stored
// generation (internal/agent release.go), and the runtime reads that same
// value down to Docker's container config (internal/dockerrt), so the
// request changes shape once between the socket and Docker. It exists so
// that neither agent nor dockerrt imports the other; it imports only
// manifest.
package deployspec

import (
	"fmt"
	"time"

	"github.com/nd-project/nd/internal/manifest"
)

// Spec says what to run for an app.
type Spec struct {
	App      string
	Package  string // store path of the deploy package
	Manifest *manifest.Manifest
	// Generation is recorded in the nd.generation label.
	Generation int
	// Closure is Package's closure (host-store mode): the only store paths
	// the runtime may read because the manifest says so (its etc).
	Closure []string
	// ImageID is dockerd's ID of the image to run: for image mode the one
	// the agent pulled; for host-store mode the runtime sets it to the
	// package's metadata-only image.
	ImageID string
	// HostStore bind-mounts the host's /nix/store read-only; the runtime's
	// host-store entry point sets it.
	HostStore bool
	// Force replaces the container even if it already runs this spec.
	Force bool
	// EnvFiles are secret env files on the host (KEY=VALUE lines, '#'
	// comments), read at deploy and passed as container env. Their
	// contents must never be logged.
	EnvFiles []string
	// Labels are added to the container (nd's own labels win). They are part
	// of the spec: a changed label replaces the container, so put nothing
	// per-push (like who pushed) here.
	Labels map[string]string
	// HealthTimeout bounds the wait for "healthy" when the image has a
	// healthcheck; 0 means derived from the healthcheck, at least the
	// runtime's default.
	HealthTimeout time.Duration
	// SettleTime is how long a new container must stay up before it counts
	// as started when its nd-init cannot tell (no probe-ready); 0 means the
	// runtime's default. With probe-ready, nd-init's word plus a short
	// settle decides.
	SettleTime time.Duration
	// DrainTime is how long an overlap deploy leaves the old container its
	// established connections before stopping it; 0 means the manifest's
	// drainTime, else the runtime's default.
	DrainTime time.Duration
	// Progress, if set, hears about each step (stage, message).
	Progress func(stage, message string)
	// Release names the agent's release the deploy is part of: the
	// volumes it creates carry it, so that the repair of an interrupted
	// release removes exactly those.
	Release string
}

// Progressf reports a step to Progress, if set.
func (s Spec) Progressf(stage, format string, args ...any) {
	if s.Progress != nil {
		s.Progress(stage, fmt.Sprintf(format, args...))
	}
}

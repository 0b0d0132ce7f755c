// Package manifest defines the deploy package's manifest: the contract between
// the Nix modules (which write it), nd-init (which runs its processes), and
// nd-agent / the image builder (which turn it into a Docker image and
// container). Every package of nd may import it; it imports nothing of nd.
//
// A deploy package is a store path (a directory) holding FileName at its root.
// The same store path always means the same deployment: everything that
// changes what runs is in the manifest or in store paths it references.
package manifest

import (
	"encoding/json"
	"fmt"
	"sort"
)

// FileName is the manifest's name at the root of a deploy package.
const FileName = "nd-manifest.json"

// Version is the manifest format this code reads and writes.
const Version = 1

// Manifest describes one app: its container settings and its processes.
type Manifest struct {
	Version int    `json:"version"`
	Name    string `json:"name"` // docker.name: the app's name, [a-z0-9][a-z0-9_.-]*

	// Entrypoint is the container's full argv, normally
	// [<nd-init>/bin/nd-init, <processes file>].
	Entrypoint []string `json:"entrypoint"`
	// Init is the store path of nd-init's directory (holds bin/nd-init), used
	// for health probes.
	Init string `json:"init"`
	// Processes is the store path of the JSON file nd-init reads (Processes type).
	ProcessesFile string `json:"processesFile"`

	Env     map[string]string `json:"env,omitempty"` // docker.env
	Ports   []Port            `json:"ports,omitempty"`
	Volumes []Volume          `json:"volumes,omitempty"`
	User    string            `json:"user,omitempty"`    // docker.user, "" = root
	WorkDir string            `json:"workdir,omitempty"` // docker.workdir, "" = /
	Labels  map[string]string `json:"labels,omitempty"`

	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`

	// Etc is a store path of a directory whose files (passwd, group, ...)
	// appear under /etc in the container.
	Etc string `json:"etc,omitempty"`

	// EnvironmentFiles are local (laptop) paths of secret env files; they
	// are uploaded out of band, never into the store.
	EnvironmentFiles []string `json:"environmentFiles,omitempty"`

	// StopGracePeriod is seconds between SIGTERM and SIGKILL.
	StopGracePeriod int `json:"stopGracePeriod,omitempty"`

	// DeployStrategy (docker.deployStrategy) is how a release replaces the
	// running one: StrategyOverlap ("" too) or StrategyRecreate.
	DeployStrategy string `json:"deployStrategy,omitempty"`
	// DrainTime (docker.drainTime) is seconds an overlap deploy leaves the
	// old container its established connections before stopping it; 0
	// means the agent's default.
	DrainTime int `json:"drainTime,omitempty"`
}

// validateDeploy checks how the app is to be deployed.
func (m *Manifest) validateDeploy() error {
	switch m.DeployStrategy {
	case "", StrategyOverlap, StrategyRecreate:
	default:
		return fmt.Errorf("deploy strategy %q: want %q or %q", m.DeployStrategy, StrategyOverlap, StrategyRecreate)
	}
	if m.DrainTime < 0 || m.DrainTime > 3600 {
		return fmt.Errorf("drain time %d s: want 0 to 3600", m.DrainTime)
	}
	return nil
}

// Deploy strategies.
const (
	// StrategyOverlap starts the new container beside the old one; once it
	// is ready, new connections go to it and the old one drains.
	StrategyOverlap = "overlap"
	// StrategyRecreate stops the old container before the new one starts,
	// for apps that must not run twice (two processes on one volume).
	StrategyRecreate = "recreate"
)

// Port is one published port.
type Port struct {
	Host      int    `json:"host"`
	Container int    `json:"container"`
	Protocol  string `json:"protocol,omitempty"` // "tcp" (default) or "udp"
	HostIP    string `json:"hostIP,omitempty"`
}

// Volume is one named volume, kept across redeploys.
type Volume struct {
	Name string `json:"name"` // short name; Docker's is VolumeName(app, name)
	Path string `json:"path"` // mount point in the container
}

// Healthcheck says how deploys decide the app is healthy. Exactly one of
// Command and HTTP is set.
type Healthcheck struct {
	Command     []string   `json:"command,omitempty"`
	HTTP        *HTTPProbe `json:"http,omitempty"`
	Interval    int        `json:"interval,omitempty"` // seconds
	Timeout     int        `json:"timeout,omitempty"`  // seconds
	Retries     int        `json:"retries,omitempty"`
	StartPeriod int        `json:"startPeriod,omitempty"` // seconds
}

// HTTPProbe is an HTTP GET against the container's own port; 2xx/3xx is healthy.
type HTTPProbe struct {
	Port int    `json:"port"`
	Path string `json:"path,omitempty"`
}

// Processes is the file nd-init reads.
type Processes struct {
	Version         int       `json:"version"`
	StopGracePeriod int       `json:"stopGracePeriod,omitempty"` // seconds
	Processes       []Process `json:"processes"`
}

// Process is one supervised program (supervisord.services.<name> or a
// systemd.services.<name> shim).
type Process struct {
	Name string `json:"name"`
	// Command is split like supervisord does (shell-like words, no shell).
	Command     string            `json:"command"`
	Directory   string            `json:"directory,omitempty"`
	User        string            `json:"user,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	StartSecs   int               `json:"startsecs,omitempty"`
	// AutoRestart is "true", "false" or "unexpected" (supervisord's values).
	AutoRestart string `json:"autorestart,omitempty"`
	// Oneshot processes run to completion, in order, before the others start.
	Oneshot bool `json:"oneshot,omitempty"`
}

// Validate checks the whole manifest before anything uses it: the agent
// runs as root and reads, mounts and publishes what it says, so everything
// must be what it claims (see validate.go).
func (m *Manifest) Validate() error {
	if m.Version != Version {
		return fmt.Errorf("manifest version %d, this nd reads version %d", m.Version, Version)
	}
	if !ValidName(m.Name) {
		return fmt.Errorf("app name %q: want lowercase letters, digits, '_', '.', '-'", m.Name)
	}
	for _, check := range []func() error{m.validateRun, m.validateEnv, m.validatePorts, m.validateVolumes, m.validateHealth, m.validateDeploy} {
		if err := check(); err != nil {
			return fmt.Errorf("app %s: %w", m.Name, err)
		}
	}
	return nil
}

// Parse decodes and validates a manifest.
func Parse(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Load reads the manifest of the deploy package at pkg.
func Load(pkg string) (*Manifest, error) {
	p, err := LoadPackage(pkg)
	if err != nil {
		return nil, err
	}
	return p.Manifest, nil
}

// SortedEnv returns env as sorted "K=V" strings, the stable form for images.
func SortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

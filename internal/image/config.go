package image

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/nd-project/nd/internal/manifest"
)

// Created is the fixed creation time of every image, so the config (and so
// the image ID) depends only on the deploy package.
const Created = "1970-01-01T00:00:01Z"

// DefaultPath is PATH when the manifest's env does not set it.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Labels nd puts on images and containers.
const (
	LabelApp     = "nd.app"
	LabelPackage = "nd.package"
)

// imageConfig is the Docker/OCI image config. Field order is fixed by the
// struct and maps are sorted by encoding/json, so the bytes are stable.
type imageConfig struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Created      string          `json:"created"`
	Config       containerConfig `json:"config"`
	RootFS       rootFS          `json:"rootfs"`
	History      []history       `json:"history,omitempty"`
}

type containerConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Healthcheck  *HealthConfig       `json:"Healthcheck,omitempty"`
}

// HealthConfig is Docker's healthcheck as it appears in image and container
// configs; durations are nanoseconds, zero means Docker's default.
type HealthConfig struct {
	Test        []string `json:"Test"`
	Interval    int64    `json:"Interval,omitempty"`
	Timeout     int64    `json:"Timeout,omitempty"`
	StartPeriod int64    `json:"StartPeriod,omitempty"`
	Retries     int      `json:"Retries,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// Options tune image building; the zero value is fine.
type Options struct {
	// Architecture of the target host in GOARCH spelling; default runtime.GOARCH.
	Architecture string
	// MaxLayers bounds the layered image's layer count (metadata layer
	// included); default DefaultMaxLayers.
	MaxLayers int
	// StoreRoot is prefixed to store paths when reading them, for a store
	// kept below a directory (a chroot store); "" reads /nix/store itself.
	// Paths inside the image stay /nix/store/....
	StoreRoot string
	// Cache, if set, remembers store layers' diffIDs across builds.
	Cache DiffIDCache
	// Base, if set, is the image Layered builds on (--from BASE).
	Base *Base
	// Closure, if set, are the store paths of the package's closure: the
	// only ones Metadata and Layered read /etc from (Layered: default its
	// closure argument, which lacks what a Base holds).
	Closure []string
}

func (o Options) inClosure() func(string) bool {
	if o.Closure == nil {
		return nil
	}
	in := map[string]bool{}
	for _, p := range o.Closure {
		in[p] = true
	}
	return func(p string) bool { return in[p] }
}

func (o Options) arch() string {
	if o.Architecture != "" {
		return o.Architecture
	}
	return runtime.GOARCH
}

// Healthcheck converts the manifest's healthcheck to Docker's, or nil. An
// HTTP probe runs nd-init's prober inside the container.
func Healthcheck(m *manifest.Manifest) *HealthConfig {
	h := m.Healthcheck
	if h == nil {
		return nil
	}
	var test []string
	if h.HTTP != nil {
		p := h.HTTP.Path
		if p == "" {
			p = "/"
		}
		test = []string{"CMD", path.Join(m.Init, "bin/nd-init"), "probe-http", strconv.Itoa(h.HTTP.Port), p}
	} else {
		test = append([]string{"CMD"}, h.Command...)
	}
	const s = int64(1e9)
	return &HealthConfig{
		Test:        test,
		Interval:    int64(h.Interval) * s,
		Timeout:     int64(h.Timeout) * s,
		StartPeriod: int64(h.StartPeriod) * s,
		Retries:     h.Retries,
	}
}

// Env is the image's environment: the manifest's env sorted, with PATH
// defaulted.
func Env(m *manifest.Manifest) []string {
	env := manifest.SortedEnv(m.Env)
	if _, ok := m.Env["PATH"]; !ok {
		env = append(env, "PATH="+DefaultPath)
		sort.Strings(env)
	}
	return env
}

// PortKey is Docker's "port/proto" spelling.
func PortKey(p manifest.Port) string {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return strconv.Itoa(p.Container) + "/" + proto
}

// ConfigJSON builds the image config for the app of deploy package pkg with
// the given layers (diffIDs, bottom first).
func ConfigJSON(m *manifest.Manifest, pkg string, diffIDs []string, opts Options) ([]byte, error) {
	labels := map[string]string{}
	env, user, workdir := Env(m), m.User, m.WorkDir
	if b := opts.Base; b != nil {
		for k, v := range b.Labels {
			labels[k] = v
		}
		own := manifest.SortedEnv(m.Env)
		if _, ok := m.Env["PATH"]; !ok && !hasKey(b.Env, "PATH") {
			own = append(own, "PATH="+DefaultPath)
		}
		env = mergeEnv(b.Env, own)
		if user == "" {
			user = b.User
		}
		if workdir == "" {
			workdir = b.WorkingDir
		}
	}
	for k, v := range m.Labels {
		labels[k] = v
	}
	labels[LabelApp] = m.Name
	labels[LabelPackage] = pkg
	var ports map[string]struct{}
	if len(m.Ports) > 0 {
		ports = map[string]struct{}{}
		for _, p := range m.Ports {
			ports[PortKey(p)] = struct{}{}
		}
	}
	cfg := imageConfig{
		Architecture: opts.arch(),
		OS:           "linux",
		Created:      Created,
		Config: containerConfig{
			User:         user,
			ExposedPorts: ports,
			Env:          env,
			Entrypoint:   m.Entrypoint,
			WorkingDir:   workdir,
			Labels:       labels,
			StopSignal:   "SIGTERM",
			Healthcheck:  Healthcheck(m),
		},
		RootFS: rootFS{Type: "layers", DiffIDs: append([]string{}, diffIDs...)},
	}
	for range diffIDs {
		cfg.History = append(cfg.History, history{Created: Created, CreatedBy: "nd"})
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	return b, nil
}

// ShortHash is the first 12 characters of a store path's hash part, used as
// the image tag.
func ShortHash(storePath string) string {
	h, _, _ := strings.Cut(path.Base(storePath), "-")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// dockerComponent is one path component of a Docker image reference.
var dockerComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// Repository is the image repository of an app: "nd/<app>", or, for the few
// app names Docker's reference grammar rejects (such as "web." or "a._b"),
// "nd/app-<hash of the name>".
func Repository(app string) string {
	if dockerComponent.MatchString(app) {
		return "nd/" + app
	}
	return "nd/app-" + digestHex([]byte(app))[:16]
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

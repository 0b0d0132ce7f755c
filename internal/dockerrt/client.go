package dockerrt

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/portswitch"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Client is the subset of the Docker client this package uses.
type Client interface {
	Ping(ctx context.Context) (types.Ping, error)
	Info(ctx context.Context) (system.Info, error)

	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, image string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ImageTag(ctx context.Context, image, ref string) error

	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerInspect(ctx context.Context, container string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerLogs(ctx context.Context, container string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerRemove(ctx context.Context, container string, options container.RemoveOptions) error
	ContainerRename(ctx context.Context, container, newContainerName string) error
	ContainerStart(ctx context.Context, container string, options container.StartOptions) error
	ContainerStop(ctx context.Context, container string, options container.StopOptions) error
	ContainerUpdate(ctx context.Context, container string, updateConfig container.UpdateConfig) (container.UpdateResponse, error)

	ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)

	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)

	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeInspect(ctx context.Context, volumeID string) (volume.Volume, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
}

var _ Client = (*client.Client)(nil)

// Runtime deploys and manages nd apps on one dockerd.
type Runtime struct {
	c      Client
	log    hclog.Logger
	opts   Options
	ports  PortSwitch         // nil: Docker publishes ports itself
	ports6 PortSwitch         // IPv6; nil: containers' IPv6 addresses are not routed
	relay6 *portswitch.Relay6 // nil: IPv6 clients of unrouted ports are refused
	drains drains             // replaced containers draining in the background
}

// Options configure a Runtime; the zero value is fine.
type Options struct {
	// Log receives diagnostics; nil logs nothing.
	Log hclog.Logger
	// StoreRoot is where the host's store is kept if not at / (a chroot
	// store at StoreRoot/nix/store): read from there when building images,
	// and bind-mounted from there in host-store mode.
	StoreRoot string
	// Ports, if set, owns the apps' published host ports (see
	// internal/portswitch), which lets a new container serve beside the old
	// one. Without it Docker publishes them, and apps with ports deploy by
	// recreating their container.
	Ports PortSwitch
	// Ports6, with Ports, routes the ports to containers' IPv6 addresses
	// (Docker with ipv6 on): portswitch.Options.IPv6.
	Ports6 PortSwitch
	// Relay6, with Ports, relays IPv6 clients of published TCP ports that
	// no IPv6 rule routes to the IPv4 route, as Docker's proxy did.
	Relay6 *portswitch.Relay6
	// Registry is the agent's loopback registry through which every image
	// reaches dockerd (see image.go); nil: no image can be loaded.
	Registry *imagereg.Registry
}

// New wraps a Docker client.
func New(c Client, opts Options) *Runtime {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	r := &Runtime{c: c, log: opts.Log, opts: opts, ports: opts.Ports}
	if opts.Ports != nil {
		r.ports6 = opts.Ports6
		r.relay6 = opts.Relay6
	}
	return r
}

// Ping reports whether dockerd answers.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.c.Ping(ctx); err != nil {
		return fmt.Errorf("reaching dockerd: %w", err)
	}
	return nil
}

// DataRoot is the directory where dockerd keeps its images and
// containers (Info's DockerRootDir).
func (r *Runtime) DataRoot(ctx context.Context) (string, error) {
	info, err := r.c.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("asking dockerd for its data root: %w", err)
	}
	return info.DockerRootDir, nil
}

// Connect makes a Docker client from the environment (DOCKER_HOST, default
// the local socket) negotiating the API version with the daemon, and checks
// the daemon answers. Close the returned closer when done.
func Connect(ctx context.Context, opts Options) (*Runtime, io.Closer, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, nil, fmt.Errorf("making docker client: %w", err)
	}
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("reaching dockerd: %w", err)
	}
	return New(c, opts), c, nil
}

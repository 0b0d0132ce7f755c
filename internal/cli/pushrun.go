package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// pushRun is one run of deploy: the package, built (or evaluated) once, and
// what every host's push shares. pushOptions stay what the user asked for.
type pushRun struct {
	o   *pushOptions
	env *Env
	rep reporter
	pkg *manifest.Package
	// drv is the package's derivation with --build-on-target: the hosts
	// build it (buildtarget.go).
	drv     string
	secrets *secretSet    // docker.environmentFiles, read once (secrets.go)
	image   imageBuild    // the layered image, built once for all image-mode hosts
	meta    metadataImage // host-store mode's metadata layer, for the hosts' head start
}

// transfer gets the package onto one host and deploys it there. Which one a
// host gets is chosen once (transferFor), from what its agent can do.
type transfer interface {
	// mode is the deploy mode it makes (manifest.ModeHostStore, ModeImage).
	mode() string
	push(ctx context.Context, h *host, res *pushResult) error
}

var (
	_ transfer = hostStoreTransfer{}
	_ transfer = imageTransfer{}
)

// transferFor picks how the package reaches a host: its store when the host
// has a usable Nix (and -b is not given), else a full layered image. It
// says why to the user. agentVersion is the host's nd-agent's.
func (r *pushRun) transferFor(target string, caps proto.Capabilities, agentVersion string) (transfer, error) {
	if r.o.BuildOnTarget && !caps.Nix {
		return nil, fmt.Errorf("--build-on-target: %s has no usable Nix to build with: %s", target, caps.NixError)
	}
	if r.o.ImageMode || !caps.Nix {
		why := "-b given"
		if !caps.Nix {
			why = "host has no usable Nix: " + caps.NixError
		}
		r.rep.info(target, fmt.Sprintf("image mode (%s)", why))
		return imageTransfer{r}, nil
	}
	r.rep.info(target, fmt.Sprintf("host-store mode (nd-agent %s)", agentVersion))
	return hostStoreTransfer{r}, nil
}

// pushOne deploys the package to one host over one SSH connection, the
// one dialAhead made.
func (r *pushRun) pushOne(ctx context.Context, target string, d *dialed) (res pushResult) {
	start := time.Now()
	res = pushResult{Host: target}
	defer func() { res.Elapsed = time.Since(start) }()

	r.rep.stage(target, proto.Progress{Stage: "connect", Message: "connecting"})
	<-d.done
	if d.h != nil {
		defer d.h.Close()
	}
	if d.err != nil {
		res.Err = d.err
		return res
	}
	h := d.h
	welcome, err := h.agent.Info(ctx) // asked by dialAhead: no round trip
	if err != nil {
		res.Err = err
		return res
	}
	h.stateDir = welcome.Capabilities.StateDir
	if !welcome.Capabilities.Docker {
		res.Err = fmt.Errorf("cannot reach Docker on %s: %s", target, welcome.Capabilities.DockerError)
		return res
	}
	t, err := r.transferFor(target, welcome.Capabilities, welcome.NDVersion)
	if err != nil {
		res.Err = err
		return res
	}
	res.Mode = t.mode()
	res.Err = t.push(ctx, h, &res)
	return res
}

// stage shows one of the agent's steps and logs it (benchmarks time the
// steps by the log).
func (r *pushRun) stage(host string, p proto.Progress) {
	r.env.Log.Info("agent", "host", host, "stage", p.Stage, "message", p.Message)
	r.rep.stage(host, p)
}

// hostStoreTransfer sends the closure's missing paths into the host's Nix
// store (internal/closure); the agent runs the package from there.
type hostStoreTransfer struct{ r *pushRun }

func (hostStoreTransfer) mode() string { return manifest.ModeHostStore }

func (t hostStoreTransfer) push(ctx context.Context, h *host, res *pushResult) error {
	r := t.r
	src := r.pkg.Path
	if r.o.BuildOnTarget {
		src = r.drv // the derivations and sources; the host builds the rest
	}
	session := closure.NewSession()
	prepared := r.prepareImage(ctx, h, session)
	defer prepared()
	tr, err := closure.Push(ctx, h.agent, src, closure.Options{Session: session, Substitute: !r.o.NoSubstitute, Printer: &closurePrinter{
		start: func(s closure.Stats) meter {
			return r.rep.transfer(h.name, fmt.Sprintf("%d paths", s.Missing), s.Total)
		},
	}})
	if err != nil {
		return fmt.Errorf("copying the closure: %w", err)
	}
	if r.o.BuildOnTarget {
		if err := r.buildOnHost(ctx, h, tr.Session, len(r.o.Hosts) == 1); err != nil {
			return err
		}
	}
	res.Paths, res.Sent, res.Substituted = tr.Stats.Missing, tr.Stats.WireBytes, tr.Stats.Substituted
	if r.o.progress.Verbose && tr.Stats.Missing > 0 {
		r.rep.info(h.name, tr.Stats.Stages.String()) // the benchmark's stage breakdown reads it
	}
	if tr.Stats.Missing == 0 {
		r.rep.info(h.name, fmt.Sprintf("all %d paths already there", tr.Stats.Paths))
	}
	app := r.pkg.Manifest.Name
	if err := uploadSecrets(ctx, h, app, r.secrets); err != nil {
		return err
	}
	prepared()
	dep, err := h.agent.Deploy(ctx, proto.Deploy{
		App: app, Package: r.pkg.Path, PushedBy: pushedBy(), Force: r.o.Force, Session: tr.Session,
		Secrets: r.secrets.Hash(),
	}, func(p proto.Progress) { r.stage(h.name, p) })
	if err != nil {
		return err
	}
	res.Generation, res.Changed = dep.Generation, dep.Changed
	return nil
}

package agentrt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/dockerrt"
	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// TestPrepareImage checks the head start nd-push gives a host-store deploy
// (proto.PrepareImage) on the real dockerd: the image made from the
// laptop's metadata layer is the one the deploy makes from the host's
// store, so the deploy runs it without pulling (the registry is gone by
// then); a layer that differs makes another image, which the deploy does
// not use and which goes when unused.
func TestPrepareImage(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommands(t, "nix-store")
	bbData, err := os.ReadFile("/bin/busybox")
	testutil.Require(t, err == nil, "needs /bin/busybox")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	images, err := imagereg.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := images.Serve()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	drt, closer, err := dockerrt.Connect(ctx, dockerrt.Options{Log: hclog.NewNullLogger(), Registry: reg})
	testutil.Require(t, err == nil, fmt.Sprintf("needs dockerd: %v", err))
	r := Wrap(drt, closer)
	defer r.Close()

	bb := storeAdd(t, "busybox", map[string]string{"bin/busybox": string(bbData)}, 0o755)
	etc := storeAdd(t, "etc", map[string]string{"passwd": "root:x:0:0::/root:/bin/sh\n", "motd": "prepared\n"}, 0o644)
	app := fmt.Sprintf("ndtest-prepare-%d", os.Getpid())
	t.Cleanup(func() { r.Docker().Remove(context.Background(), app, true) })
	m := &manifest.Manifest{Version: 1, Name: app, Etc: etc, Entrypoint: []string{bb + "/bin/busybox", "sleep", "1000"}}
	b, _ := json.Marshal(m)
	pkg := storeAdd(t, "nd-deploy-"+app, map[string]string{manifest.FileName: string(b)}, 0o644)

	// What nd-push sends: the metadata layer as it builds it.
	laptop, err := image.Metadata(m, pkg, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	if _, err := laptop.Layers[0].WriteTo(&layer); err != nil {
		t.Fatal(err)
	}
	id, err := r.PrepareImage(ctx, m, pkg, layer.Bytes())
	if err != nil {
		t.Fatalf("PrepareImage: %v", err)
	}
	if id != laptop.ID {
		// The classic store names an image by its config digest.
		t.Logf("prepared %s, the laptop's config digest is %s (containerd image store: a manifest digest)", id, laptop.ID)
	}

	// Another /etc: another image, whatever the client claims.
	other := bytes.Replace(layer.Bytes(), []byte("prepared\n"), []byte("tampered\n"), 1)
	if bytes.Equal(other, layer.Bytes()) {
		t.Fatal("test layer holds no motd to change")
	}
	otherID, err := r.PrepareImage(ctx, m, pkg, other)
	if err != nil {
		t.Fatalf("PrepareImage of a changed layer: %v", err)
	}
	if otherID == id {
		t.Fatalf("a changed layer gave the same image %s", id)
	}

	// The deploy needs no pull: the registry is closed.
	reg.Close()
	res, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg, Manifest: m, Generation: 1, Progress: func(string, string) {}})
	if err != nil {
		t.Fatalf("Deploy after the head start (no registry): %v", err)
	}
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if ci, err := dc.ContainerInspect(ctx, res.ContainerID); err != nil || ci.Image != id {
		t.Errorf("deployed container runs image %q (%v), want the prepared %s", ci.Image, err, id)
	}
	hasImage := func(id string) bool {
		_, err := dc.ImageInspect(ctx, id)
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	// The agent's clean-up at the session's end: the unused one goes, the
	// one the container runs stays.
	r.RemoveImageIfUnused(ctx, app, otherID)
	r.RemoveImageIfUnused(ctx, app, id)
	if hasImage(otherID) {
		t.Errorf("unused prepared image %s still there", otherID)
	}
	if !hasImage(id) {
		t.Errorf("image %s of the running container removed", id)
	}
}

package agentrt

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/dockerrt"
	"github.com/nd-project/nd/internal/imagereg"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

func storeAdd(t *testing.T, name string, files map[string]string, mode os.FileMode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for p, c := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), mode); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("nix-store", "--add", dir).Output()
	if err != nil {
		t.Fatalf("nix-store --add: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestAgentRuntime deploys through the agent's interface on the real dockerd.
func TestAgentRuntime(t *testing.T) {
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
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	bb := storeAdd(t, "busybox", map[string]string{"bin/busybox": string(bbData)}, 0o755)
	app := fmt.Sprintf("ndtest-agentrt-%d", os.Getpid())
	t.Cleanup(func() { r.Docker().Remove(context.Background(), app, true) })
	m := &manifest.Manifest{Version: 1, Name: app, Entrypoint: []string{bb + "/bin/busybox", "sleep", "1000"}}
	b, _ := json.Marshal(m)
	pkg := storeAdd(t, "nd-deploy-"+app, map[string]string{manifest.FileName: string(b)}, 0o644)

	var stages []string
	spec := deployspec.Spec{App: app, Package: pkg, Manifest: m, Generation: 1,
		Progress: func(stage, msg string) { stages = append(stages, stage) }}
	res, err := r.Deploy(ctx, spec)
	if err != nil || !res.Changed || res.ContainerID == "" {
		t.Fatalf("Deploy = %+v, %v", res, err)
	}
	again, err := r.Deploy(ctx, spec)
	if err != nil || again.Changed || again.ContainerID != res.ContainerID {
		t.Errorf("second Deploy = %+v, %v; want unchanged %s", again, err, res.ContainerID)
	}
	st, err := r.Docker().Status(ctx, app)
	if err != nil || st.Package != pkg || st.Mode != "host-store" {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if len(stages) == 0 || stages[0] != "image" {
		t.Errorf("progress stages %v", stages)
	}
}

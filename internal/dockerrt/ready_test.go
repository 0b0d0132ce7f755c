package dockerrt

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
)

// A container that publishes ports is ready when every TCP port accepts a
// connection: not before, and without the settle time. One whose port never
// accepts is ready after the settle time, as one without ports.
func TestReadyWhenListening(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ctx := context.Background()
	const settle = 12 * time.Second
	port := 0
	// Each its own app: the times are the new container's alone, with no
	// old one to stop first.
	deployTimed := func(gen int, script string) time.Duration {
		t.Helper()
		app := uniqueApp(t, r, fmt.Sprintf("ready%d", gen))
		port = freePort(t)
		m := shApp(app, bb, etc, script)
		m.Ports = []manifest.Port{{Host: port, Container: 8080, HostIP: "127.0.0.1"}}
		pkg := addPackage(t, m)
		id, err := r.EnsureImage(ctx, m, pkg)
		if err != nil {
			t.Fatalf("EnsureImage: %v", err)
		}
		start := time.Now()
		if _, err := r.Deploy(ctx, deployspec.Spec{App: app, Package: pkg, Manifest: m, ImageID: id, Generation: gen,
			HostStore: true, SettleTime: settle, HealthTimeout: 30 * time.Second}); err != nil {
			t.Fatalf("deploy %d: %v", gen, err)
		}
		return time.Since(start)
	}
	serve := "mkdir -p /www; echo %s > /www/v; exec $BB httpd -f -p 8080 -h /www"

	if d := deployTimed(1, fmt.Sprintf(serve, "v1")); d > settle/2 {
		t.Errorf("an app listening at once took %s to deploy; want well under the %s settle time", d, settle)
	}
	if code, body := httpGet(t, port, "/v"); code != 200 || strings.TrimSpace(body) != "v1" {
		t.Errorf("GET /v = %d %q, want v1", code, body)
	}
	if d := deployTimed(2, "$BB sleep 2; "+fmt.Sprintf(serve, "v2")); d < 2*time.Second || d > settle/2 {
		t.Errorf("an app listening after 2 s took %s to deploy; want 2 s and a little", d)
	}
	if code, body := httpGet(t, port, "/v"); code != 200 || strings.TrimSpace(body) != "v2" {
		t.Errorf("GET /v = %d %q, want v2", code, body)
	}
	if d := deployTimed(3, "exec $BB sleep 1000"); d < settle {
		t.Errorf("an app that never listens took %s to deploy; want the %s settle time", d, settle)
	}
}

package dockerrt

import (
	"context"
	"testing"
	"time"
)

// An overlap deploy returns at the switch; the old container drains in the
// background for the drain time and is then gone. A deploy during a drain
// ends it first, and so does rm.
func TestDrainInBackground(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	app := uniqueApp(t, r, "drain")
	ctx := context.Background()
	version := func(v string, drain int) DeployResult {
		t.Helper()
		m := shApp(app, bb, etc, "exec $BB sleep 100"+v) // no ports: the overlap strategy
		m.DrainTime = drain
		res, err := deploy(ctx, t, r, m, len(v))
		if err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
		return res
	}
	running := func(id string) bool {
		ci, err := r.c.ContainerInspect(ctx, id)
		return err == nil && ci.State != nil && ci.State.Running
	}
	gone := func(id string) bool {
		_, err := r.c.ContainerInspect(ctx, id)
		return err != nil
	}

	v1 := version("1", 3)
	v2 := version("11", 3)
	returned := time.Now()
	if v2.Drained != v1.ContainerID {
		t.Fatalf("deploy 2 drained %q, want %s", v2.Drained, v1.ContainerID)
	}
	if !running(v1.ContainerID) {
		t.Fatalf("the old container is not running as the deploy returns: the deploy waited for the drain")
	}
	if st, err := r.Status(ctx, app); err != nil || st.Draining == nil || st.Draining.ContainerID != v1.ContainerID {
		t.Errorf("status while draining = %+v, %v; want the old container draining", st, err)
	}
	for !gone(v1.ContainerID) {
		if time.Since(returned) > 20*time.Second {
			t.Fatalf("the drained container is still there 20 s after a 3 s drain")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(returned); d < 2*time.Second {
		t.Errorf("the old container went %s after the deploy; want the 3 s drain", d)
	}

	// A long drain, cut short by the next deploy: it stops the draining
	// one before it starts, and only the container it replaced drains.
	v3 := version("111", 60)
	if !running(v2.ContainerID) {
		t.Fatalf("deploy 3's old container is not draining")
	}
	v4 := version("1111", 60)
	if !gone(v2.ContainerID) {
		t.Errorf("deploy 4 returned and deploy 3's drained container %s is still there", v2.ContainerID[:12])
	}
	if v4.Drained != v3.ContainerID || !running(v3.ContainerID) {
		t.Errorf("deploy 4 drains %q (running %v), want %s", v4.Drained, running(v3.ContainerID), v3.ContainerID[:12])
	}
	// rm ends the drain too: nothing of the app is left (uniqueApp checks).
	start := time.Now()
	if err := r.Remove(ctx, app, true); err != nil {
		t.Fatal(err)
	}
	if !gone(v3.ContainerID) {
		t.Errorf("rm left the draining container")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("rm took %s: it waited for the drain", d)
	}
}

package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/manifest"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
)

// TestPrepareImageSession checks the agent's side of the image head start
// (the image itself is dockerrt's, tested on dockerd in agentrt): what it
// refuses, and that the push session's end hands the prepared image to the
// runtime's clean-up, which keeps it if a container runs it.
func TestPrepareImageSession(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	pkg := nt.BuildClosure(t, "prep", 2)
	data, err := os.ReadFile(filepath.Join(pkg, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	res, err := closure.Push(ctx, e.client, pkg, closure.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := proto.PrepareImage{Package: pkg, Session: res.Session, Manifest: data, Layer: []byte("a layer")}

	for _, c := range []struct {
		name, app string
		req       proto.PrepareImage
		want      string
	}{
		{"no session", "prep", proto.PrepareImage{Package: pkg, Manifest: data, Layer: []byte("x")}, "needs the push's session"},
		{"another app's manifest", "other", req, `is app "prep", not "other"`},
		{"not a store path", "prep", proto.PrepareImage{Package: "/tmp/x", Session: res.Session, Manifest: data}, "/tmp/x"},
		{"a layer too big", "prep", proto.PrepareImage{Package: pkg, Session: res.Session, Manifest: data, Layer: make([]byte, proto.MaxPrepareLayer+1)}, "at most"},
	} {
		_, err := e.client.PrepareImage(ctx, c.app, c.req)
		if !agentclient.IsCode(err, proto.CodeBadRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: PrepareImage = %v; want a bad request saying %q", c.name, err, c.want)
		}
	}
	if len(e.rt.prepared) != 0 {
		t.Fatalf("refused requests prepared images: %v", e.rt.prepared)
	}

	id, err := e.client.PrepareImage(ctx, "prep", req)
	if err != nil {
		t.Fatalf("PrepareImage: %v", err)
	}
	if !slices.Equal(e.rt.prepared, []string{id}) {
		t.Fatalf("runtime prepared %v, agent said %s", e.rt.prepared, id)
	}
	// A failed deploy leaves its session for a retry but not its image.
	e.rt.mu.Lock()
	e.rt.fail = errors.New("container would not start")
	e.rt.mu.Unlock()
	if _, err := e.client.Deploy(ctx, proto.Deploy{App: "prep", Package: pkg, Session: res.Session}, nil); err == nil {
		t.Fatal("deploy succeeded with a failing runtime")
	}
	waitRemoved(t, e.rt, "after a failed deploy", "prep "+id)

	e.rt.mu.Lock()
	e.rt.fail = nil
	e.rt.mu.Unlock()
	if _, err := e.client.PrepareImage(ctx, "prep", req); err != nil {
		t.Fatalf("PrepareImage after a failed deploy: %v", err)
	}
	if _, err := e.client.Deploy(ctx, proto.Deploy{App: "prep", Package: pkg, Session: res.Session}, nil); err != nil {
		t.Fatal(err)
	}
	// The deploy ended the session: its image goes to the clean-up (in
	// the background, once the deploy lets go of the app).
	waitRemoved(t, e.rt, "after the session ended", "prep "+id, "prep "+id)
}

// waitRemoved waits until rt was asked to remove exactly want.
func waitRemoved(t *testing.T, rt *testRuntime, when string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rt.mu.Lock()
		removed := slices.Clone(rt.removed)
		rt.mu.Unlock()
		if slices.Equal(removed, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s the runtime was asked to remove %v; want %v", when, removed, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

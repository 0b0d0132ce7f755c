package closure_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
)

// greedyAgent asks for a path outside the closure, as a compromised host might.
type greedyAgent struct{ imported bool }

func (g *greedyAgent) Missing(ctx context.Context, q proto.QueryMissing) (proto.Missing, error) {
	return proto.Missing{Missing: []string{"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-laptop-secrets"}}, nil
}

func (g *greedyAgent) Import(ctx context.Context, opts agentclient.ImportOptions, write func(io.Writer) error) (proto.Imported, error) {
	g.imported = true
	return proto.Imported{}, write(io.Discard)
}

func TestPushSendsOnlyTheClosure(t *testing.T) {
	pkg := nt.BuildClosure(t, "greedy", 1)
	g := &greedyAgent{}
	_, err := closure.Push(context.Background(), g, pkg, closure.Options{})
	if err == nil || !strings.Contains(err.Error(), "not in the closure") || g.imported {
		t.Fatalf("Push to a host asking for other paths = %v (imported %v), want refusal", err, g.imported)
	}
}

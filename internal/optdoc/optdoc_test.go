package optdoc

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite docs/options.md")

const docFile = "../../docs/options.md"

// TestOptionsDoc keeps docs/options.md what the modules declare: it fails
// when a module's option changed and the file was not regenerated.
func TestOptionsDoc(t *testing.T) {
	testutil.RequireCommands(t, "nix-instantiate")
	opts, err := Load(context.Background(), t.TempDir(), filepath.Join(testutil.RequireNixpkgsLib(t), "lib"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteMarkdown(&b, opts)
	if *update {
		if err := os.WriteFile(docFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("docs/options.md is not current (run go test ./internal/optdoc -run TestOptionsDoc -update) (-file +generated):\n%s", d)
	}
}

// TestLoad checks facts of a few options against their declarations.
func TestLoad(t *testing.T) {
	testutil.RequireCommands(t, "nix-instantiate")
	opts, err := Load(context.Background(), t.TempDir(), filepath.Join(testutil.RequireNixpkgsLib(t), "lib"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Option{}
	for _, o := range opts {
		byName[o.Name] = o
	}
	cmd, ok := byName["supervisord.services.<name>.command"]
	if !ok || cmd.Type != "string" || cmd.Default != nil || cmd.Example == nil || !strings.Contains(cmd.Description, "Command to run") {
		t.Errorf("supervisord.services.<name>.command = %+v, want a string without default, with example and description", cmd)
	}
	if p := byName["services.redis.port"]; p.Default == nil || *p.Default != "6379" {
		t.Errorf("services.redis.port default = %v, want 6379", p.Default)
	}
	for n := range byName {
		if strings.HasPrefix(n, "nd.") || strings.HasPrefix(n, "_module") {
			t.Errorf("internal option %s is listed", n)
		}
	}
	if got := Filter(opts, "services.redis."); len(got) == 0 || len(got) >= len(opts) {
		t.Errorf("Filter(services.redis.) kept %d of %d", len(got), len(opts))
	}
	if got := Filter(opts, "docker.port"); len(got) != 0 {
		t.Errorf("Filter(docker.port) = %v, want nothing (no option is named so)", got)
	}
}

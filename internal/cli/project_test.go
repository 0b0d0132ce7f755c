package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/testutil"
)

func TestLoadProject(t *testing.T) {
	testutil.RequireCommands(t, "nix-instantiate")
	dir := t.TempDir()
	write := func(text string) string {
		f := filepath.Join(dir, "nd.nix")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := write(`{
  nixpkgs = ./np;
  deployments.web = { hosts = [ "root@web1" "web2" ]; tags = [ "web" "front" ]; configuration = ./web; };
  deployments.db = { hosts = [ "db1" ]; configuration = "db/config.nix"; nixpkgs = null; };
}`)
	deps, err := loadProject(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := []deployment{
		{Name: "db", Hosts: []string{"db1"}, Tags: []string{}, Configuration: filepath.Join(dir, "db/config.nix")},
		{Name: "web", Hosts: []string{"root@web1", "web2"}, Tags: []string{"web", "front"}, Configuration: filepath.Join(dir, "web"), Nixpkgs: filepath.Join(dir, "np")},
	}
	if d := cmp.Diff(want, deps); d != "" {
		t.Errorf("loadProject (-want +got):\n%s", d)
	}
	for sel, hosts := range map[string][]string{"@web": {"root@web1", "web2"}, "@db": nil, "db": nil, "web2": {"web2"}, "": {"root@web1", "web2"}} {
		var on []string
		if sel != "" {
			on = []string{sel}
		}
		if got := selectHosts(deps[1], on); !cmp.Equal(got, hosts) {
			t.Errorf("selectHosts(web, %q) = %q, want %q", sel, got, hosts)
		}
	}
	for text, wantErr := range map[string]string{
		`{ deployments.web = { host = [ "x" ]; configuration = ./web; }; }`: "unknown attribute host",
		`{ deployments.web = { hosts = [ "x" ]; }; }`:                       "has no configuration",
		`{ deployments.web = { configuration = ./web; }; }`:                 "has no hosts",
		`{ }`: "has no deployments",
	} {
		_, err := loadProject(context.Background(), write(text))
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), "nd.nix") {
			t.Errorf("project %s: error %v, want %q naming the file", text, err, wantErr)
		}
	}
}

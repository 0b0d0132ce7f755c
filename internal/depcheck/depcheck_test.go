package depcheck

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/nd-project/nd"

// rule is what one command may link: nd's own packages (paths below the
// module) and third-party modules; denied names packages of an allowed
// module that the command must still not link.
type rule struct {
	cmd     string
	nd      []string
	modules []string
	denied  []string
}

// Modules every command with hclog links for it (colour on terminals).
var hclogModules = []string{"github.com/hashicorp/go-hclog", "github.com/fatih/color", "github.com/mattn/go-colorable", "github.com/mattn/go-isatty"}

var rules = []rule{
	{
		cmd: "cmd/nd-push",
		nd: []string{"internal/agentclient", "internal/cli", "internal/closure", "internal/countio", "internal/image", "internal/manifest",
			"internal/nixbuild", "internal/nixcmd", "internal/nixstore", "internal/optdoc", "internal/proto", "internal/sshconn",
			"modules", "systemd"},
		modules: append([]string{
			"github.com/spf13/cobra", "github.com/spf13/pflag", // the command line
			"github.com/vbauerster/mpb/v8", "github.com/VividCortex/ewma", "github.com/acarl005/stripansi", // progress bars
			"github.com/clipperhouse/uax29/v2", "github.com/mattn/go-runewidth", "github.com/vbauerster/cupwriter", "golang.org/x/term",
			"golang.org/x/crypto", "github.com/kevinburke/ssh_config", "github.com/pkg/sftp", "github.com/kr/fs", // SSH
			"github.com/klauspost/compress", // zstd
			// image mode's v1 types and writers; its remote and daemon parts pull in docker/cli's config
			"github.com/google/go-containerregistry", "github.com/opencontainers/go-digest", "github.com/opencontainers/image-spec",
			"github.com/docker/cli", "github.com/docker/docker-credential-helpers", "github.com/sirupsen/logrus",
			"golang.org/x/sync", "golang.org/x/sys",
		}, hclogModules...),
		denied: []string{
			"github.com/google/go-containerregistry/pkg/registry", // the agent's registry
			"github.com/docker/docker",                            // the Docker client
		},
	},
	{
		cmd: "cmd/nd-agent",
		// agentclient: `nd-agent check` asks the serving agent through it.
		nd: []string{"internal/agent", "internal/agentclient", "internal/countio", "internal/deployspec", "internal/dockerrt", "internal/dockerrt/agentrt", "internal/image", "internal/imagereg",
			"internal/manifest", "internal/nixcmd", "internal/nixstore", "internal/portswitch", "internal/proto"},
		modules: append([]string{
			// the Docker client and what it links
			"github.com/docker/docker", "github.com/docker/go-connections", "github.com/docker/go-units", "github.com/moby/docker-image-spec",
			"github.com/containerd/errdefs", "github.com/containerd/errdefs/pkg", "github.com/distribution/reference", "github.com/pkg/errors",
			"github.com/felixge/httpsnoop", "github.com/go-logr/logr", "github.com/go-logr/stdr",
			"go.opentelemetry.io/auto/sdk", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "go.opentelemetry.io/otel",
			"go.opentelemetry.io/otel/log", "go.opentelemetry.io/otel/metric", "go.opentelemetry.io/otel/trace",
			// the loopback registry and image types
			"github.com/google/go-containerregistry", "github.com/opencontainers/go-digest", "github.com/opencontainers/image-spec",
			// conntrack (portswitch)
			"github.com/ti-mo/conntrack", "github.com/ti-mo/netfilter", "github.com/mdlayher/netlink", "github.com/mdlayher/socket",
			"github.com/josharian/native", "github.com/cespare/xxhash/v2",
			"github.com/klauspost/compress", "golang.org/x/net", "golang.org/x/sync", "golang.org/x/sys",
		}, hclogModules...),
		denied: []string{
			"github.com/google/go-containerregistry/pkg/v1/remote", // the agent serves images; it fetches none
		},
	},
	{
		cmd:     "cmd/nd-init",
		nd:      []string{"internal/manifest", "internal/supervise"},
		modules: []string{"golang.org/x/sys"},
	},
	{
		cmd:     "cmd/nd-fleet",
		nd:      []string{"internal/fleet", "internal/testutil"},
		modules: []string{"golang.org/x/crypto", "golang.org/x/sys"},
	},
}

// dep is one package a command links, with the module holding it ("" for
// the standard library).
type dep struct{ pkg, module string }

func deps(t *testing.T, pkg string) []dep {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var ds []dep
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			ds = append(ds, dep{f[0], f[1]})
		}
	}
	return ds
}

// problems lists how the dependencies all of r.cmd break r.
func problems(r rule, all []dep) []string {
	var out []string
	usedND, usedMod := map[string]bool{}, map[string]bool{}
	for _, d := range all {
		for _, den := range r.denied {
			if d.pkg == den || strings.HasPrefix(d.pkg, den+"/") {
				out = append(out, fmt.Sprintf("%s links %s, which it must not", r.cmd, d.pkg))
			}
		}
		if d.module == mod {
			rel := strings.TrimPrefix(d.pkg, mod+"/")
			if rel == r.cmd {
				continue
			}
			usedND[rel] = true
			if !slices.Contains(r.nd, rel) {
				out = append(out, fmt.Sprintf("%s links %s, not on its allow-list (depcheck_test.go)", r.cmd, rel))
			}
			continue
		}
		usedMod[d.module] = true
		if !slices.Contains(r.modules, d.module) {
			out = append(out, fmt.Sprintf("%s links module %s (package %s), not on its allow-list (depcheck_test.go)", r.cmd, d.module, d.pkg))
		}
	}
	// The list stays what the command uses, so it reads as its architecture.
	for _, p := range r.nd {
		if !usedND[p] {
			out = append(out, fmt.Sprintf("%s no longer links %s: drop it from its allow-list", r.cmd, p))
		}
	}
	for _, m := range r.modules {
		if !usedMod[m] {
			out = append(out, fmt.Sprintf("%s no longer links module %s: drop it from its allow-list", r.cmd, m))
		}
	}
	return out
}

func TestAllowList(t *testing.T) {
	for _, r := range rules {
		t.Run(r.cmd, func(t *testing.T) {
			all := deps(t, mod+"/"+r.cmd)
			if len(all) == 0 {
				t.Fatalf("go list -deps %s printed nothing", r.cmd)
			}
			for _, p := range problems(r, all) {
				t.Error(p)
			}
		})
	}
}

// TestAllowListCatches runs the check on nd-push's real dependencies with
// rules it breaks: each must be reported.
func TestAllowListCatches(t *testing.T) {
	all := deps(t, mod+"/cmd/nd-push")
	base := rules[0]
	if base.cmd != "cmd/nd-push" {
		t.Fatalf("rules[0] is %s, want cmd/nd-push", base.cmd)
	}
	drop := func(l []string, x string) []string {
		return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return s == x })
	}
	cases := []struct {
		name string
		r    rule
		want string
	}{
		{"package not listed", rule{cmd: base.cmd, nd: drop(base.nd, "internal/cli"), modules: base.modules},
			"links internal/cli, not on its allow-list"},
		{"module not listed", rule{cmd: base.cmd, nd: base.nd, modules: drop(base.modules, "github.com/vbauerster/mpb/v8")},
			"links module github.com/vbauerster/mpb/v8"},
		{"denied package", rule{cmd: base.cmd, nd: base.nd, modules: base.modules, denied: []string{"github.com/spf13/cobra"}},
			"links github.com/spf13/cobra, which it must not"},
		{"stale entry", rule{cmd: base.cmd, nd: append(slices.Clone(base.nd), "internal/agent"), modules: base.modules},
			"no longer links internal/agent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := problems(c.r, all)
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("problems = %q, want one containing %q", ps, c.want)
			}
		})
	}
}

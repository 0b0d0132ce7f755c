package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/nd-project/nd"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestDependencyRules(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{mod + "/cmd/nd-push", []string{"github.com/docker/docker", mod + "/internal/dockerrt", mod + "/internal/agent"}},
		{mod + "/cmd/nd-agent", []string{mod + "/internal/cli", mod + "/internal/sshconn", mod + "/internal/nixbuild"}},
		{mod + "/cmd/nd-init", []string{"github.com/docker/docker", mod + "/internal/cli", mod + "/internal/agent", "golang.org/x/crypto/ssh"}},
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			all := deps(t, r.pkg)
			if len(all) == 0 {
				t.Fatalf("go list -deps %s printed nothing", r.pkg)
			}
			for _, d := range all {
				for _, f := range r.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s depends on %s (forbidden: %s)", r.pkg, d, f)
					}
				}
			}
		})
	}
}

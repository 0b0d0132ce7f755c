package systemd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/testutil"
)

// TestAgentUnitVerifies checks the unit install-agent writes with systemd's
// own parser: any unknown key or bad value is a failure (systemd only warns
// about them and would run the agent without that setting).
func TestAgentUnitVerifies(t *testing.T) {
	testutil.RequireCommands(t, "systemd-analyze")
	dir := t.TempDir()
	unit := AgentUnit("/bin/true") // verify wants ExecStart to exist
	if !strings.Contains(unit, "ExecStart=/bin/true serve ") {
		t.Fatalf("AgentUnit did not point ExecStart at the agent:\n%s", unit)
	}
	p := filepath.Join(dir, "nd-agent.service")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", p)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("systemd-analyze verify nd-agent.service: %v\n%s", err, out.String())
	}
}

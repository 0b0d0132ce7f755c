package supervise

import (
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/manifest"
)

// An environment name holding '=' would reach the process as another
// variable ("B=C" = "d" is B with value "C=d"): refused before anything runs.
func TestValidateRefusesEnvKeyWithEquals(t *testing.T) {
	p := &manifest.Processes{Version: ProcessesVersion, Processes: []manifest.Process{
		{Name: "web", Command: "/bin/true", Environment: map[string]string{"B=C": "d"}},
	}}
	if err := Validate(p); err == nil || !strings.Contains(err.Error(), `process web: environment variable name "B=C"`) {
		t.Errorf("Validate = %v, want the process and the name", err)
	}
}

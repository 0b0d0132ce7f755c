// Package systemd holds nd's systemd units, embedded so nd-push
// install-agent can install the unit that matches its own nd-agent.
package systemd

import (
	_ "embed"
	"strings"
)

//go:embed nd-agent.service
var agentUnit string

// DefaultAgentPath is where the unit expects nd-agent.
const DefaultAgentPath = "/usr/local/bin/nd-agent"

// AgentUnit returns nd-agent.service with ExecStart pointing at agentPath.
func AgentUnit(agentPath string) string {
	return strings.ReplaceAll(agentUnit, DefaultAgentPath, agentPath)
}

package proto

// Requests for operating deployed apps (nd-push rollback, status, logs, rm,
// exec). Each is one stream, like every request:
//
//	Rollback → Progress... Deployed         a new generation running an older package
//	Logs     → LogsStarted (or Error), data frames, end frame, LogsDone (or Error)
//	Remove   → Removed
//	Restart, Stop, Start (AppOp) → Progress... AppState
//	Exec     → ExecStarted, then Input/Resize (client) and Output (agent)
//	           messages in both directions until ExecExited (or Error)
//
// Logs with Follow runs until the client closes the stream.
const (
	TypeRollback    Type = "rollback"     // Rollback → Progress... Deployed
	TypeLogs        Type = "logs"         // Logs → data..., LogsDone
	TypeLogsStarted Type = "logs-started" // LogsStarted
	TypeLogsDone    Type = "logs-done"    // LogsDone
	TypeRemove      Type = "rm"           // Remove → Removed
	TypeRemoved     Type = "removed"      // Removed
	TypeExec        Type = "exec"         // Exec → ExecStarted, Output..., ExecExited
	TypeExecStarted Type = "exec-started" // ExecStarted
	TypeInput       Type = "input"        // Input (client → agent, during Exec)
	TypeResize      Type = "resize"       // Resize (client → agent, during Exec)
	TypeOutput      Type = "output"       // Output (agent → client, during Exec)
	TypeExecExited  Type = "exec-exited"  // ExecExited
	TypeRestart     Type = "restart"      // AppOp → Progress... AppState
	TypeStop        Type = "stop"         // AppOp → Progress... AppState
	TypeStart       Type = "start"        // AppOp → Progress... AppState
	TypeAppState    Type = "app-state"    // AppState
)

// AppOp names the app of a restart, stop or start: the message's type says
// which. Stop keeps the container (and its generation): a stopped app stays
// stopped across reboots until start or the next deploy.
type AppOp struct {
	App string `json:"app"`
}

// AppState answers an AppOp: the container's state afterwards.
type AppState struct {
	Container ContainerStatus `json:"container"`
}

// Rollback makes App run the package of an earlier generation again,
// without any transfer. Generation 0 means the newest generation older than
// the current one whose package (or secrets) differ from the current one's.
// The rollback is recorded as a new generation (RollbackOf says which one it
// restored), so the history only grows and a rollback can be rolled back.
type Rollback struct {
	App        string `json:"app"`
	Generation int    `json:"generation,omitempty"`
	PushedBy   string `json:"pushedBy,omitempty"`
}

// Logs asks for the output of App's container. Tail < 0: all lines.
type Logs struct {
	App    string `json:"app"`
	Follow bool   `json:"follow,omitempty"`
	Tail   int    `json:"tail"`
	// Since, if set, shows only output after that time (Unix seconds).
	Since int64 `json:"since,omitempty"`
	// Timestamps prefixes each line with the time Docker received it.
	Timestamps bool `json:"timestamps,omitempty"`
}

// LogsStarted says the data frames of the logs follow.
type LogsStarted struct{}

// LogsDone ends a Logs reply after its data.
type LogsDone struct{}

// Remove deletes App from the host: its containers, images, GC roots,
// generations and secrets; with Volumes also its named volumes.
type Remove struct {
	App     string `json:"app"`
	Volumes bool   `json:"volumes,omitempty"`
}

// Removed answers Remove.
type Removed struct {
	Container   bool `json:"container"`   // a container was removed
	Generations int  `json:"generations"` // recorded generations dropped
}

// Exec runs Cmd in App's running container. With Stdin the client sends
// Input messages (else the command's stdin is empty). With TTY the command
// gets a terminal of Rows x Cols, and its output comes as Stream 1 only.
type Exec struct {
	App   string   `json:"app"`
	Cmd   []string `json:"cmd"`
	Stdin bool     `json:"stdin,omitempty"`
	TTY   bool     `json:"tty,omitempty"`
	Rows  uint     `json:"rows,omitempty"`
	Cols  uint     `json:"cols,omitempty"`
}

// ExecStarted says the command runs; the client may send Input now.
type ExecStarted struct{}

// Input is a piece of the command's stdin; EOF closes it.
type Input struct {
	Data []byte `json:"data,omitempty"`
	EOF  bool   `json:"eof,omitempty"`
}

// Resize changes the terminal size of a TTY exec.
type Resize struct {
	Rows uint `json:"rows"`
	Cols uint `json:"cols"`
}

// Output is a piece of the command's output: Stream 1 stdout, 2 stderr.
type Output struct {
	Stream int    `json:"stream"`
	Data   []byte `json:"data"`
}

// ExecExited ends an Exec: the command's exit code.
type ExecExited struct {
	Code int `json:"code"`
}

// ContainerStatus is what the container runtime says about an app's
// container, part of AppStatus.
type ContainerStatus struct {
	ID         string `json:"id"`
	Image      string `json:"image,omitempty"` // image ID`
	Package    string `json:"package"`
	Generation int    `json:"generation"`
	Mode       string `json:"mode"`
	// State is Docker's: created, running, restarting, exited, ...
	State string `json:"state"`
	// Health: "", starting, healthy or unhealthy.
	Health       string    `json:"health,omitempty"`
	ExitCode     int       `json:"exitCode,omitempty"`
	RestartCount int       `json:"restartCount,omitempty"`
	StartedAt    string    `json:"startedAt,omitempty"` // RFC 3339
	Ports        []PortMap `json:"ports,omitempty"`
	// PortsBy is who publishes the ports: "nd-agent" (its DNAT rules, which
	// lets deploys overlap) or "docker".
	PortsBy string `json:"portsBy,omitempty"`
	// Routes are the agent's rules as they stand, e.g.
	// "8080->172.17.0.3:8080/tcp": they name the live container's address.
	Routes []string `json:"routes,omitempty"`
	// Draining is the container an overlap deploy replaced, while it
	// finishes its connections.
	Draining *DrainingContainer `json:"draining,omitempty"`
}

// DrainingContainer is a replaced container that still serves the
// connections it had when the ports switched.
type DrainingContainer struct {
	ID         string `json:"id"`
	Package    string `json:"package"`
	Generation int    `json:"generation"`
	State      string `json:"state"`
}

// PortMap is a published port.
type PortMap struct {
	HostIP    string `json:"hostIP,omitempty"`
	Host      int    `json:"host"`
	Container int    `json:"container"`
	Protocol  string `json:"protocol"`
}

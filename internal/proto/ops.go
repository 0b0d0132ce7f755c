package proto

// Requests for operating deployed apps (nd-push rollback, status, logs, rm,
// exec, restart, stop, start); their routes are in paths.go.

// Action is a lifecycle operation of RouteLifecycle.
type Action string

// Lifecycle actions.
const (
	ActionRestart Action = "restart"
	ActionStop    Action = "stop"
	ActionStart   Action = "start"
)

// AppOp names the app of a restart, stop or start (the route's action).
// Stop keeps the container (and its generation): a stopped app stays
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

// Logs asks for the output of App's container (query parameters of
// RouteLogs). Tail < 0: all lines.
type Logs struct {
	App    string `json:"app"`
	Follow bool   `json:"follow,omitempty"`
	Tail   int    `json:"tail"`
	// Since, if set, shows only output after that time (Unix seconds).
	Since int64 `json:"since,omitempty"`
	// Timestamps prefixes each line with the time Docker received it.
	Timestamps bool `json:"timestamps,omitempty"`
}

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

// Exec runs Cmd in App's running container, on an upgraded connection:
// what the client writes is the command's stdin (with Stdin; the client's
// half-close ends it), what it reads the command's output. With TTY the
// command gets a terminal of Rows x Cols and its output is raw, else
// multiplexed (ContentTypeMultiplexedStream). The exit code is then asked
// for with RouteExecInspect.
type Exec struct {
	App   string   `json:"app"`
	Cmd   []string `json:"cmd"`
	Stdin bool     `json:"stdin,omitempty"`
	TTY   bool     `json:"tty,omitempty"`
	Rows  uint     `json:"rows,omitempty"`
	Cols  uint     `json:"cols,omitempty"`
}

// Resize changes the terminal size of a TTY exec.
type Resize struct {
	Rows uint `json:"rows"`
	Cols uint `json:"cols"`
}

// ExecExited answers RouteExecInspect: whether the command still runs, and
// its exit code once it does not.
type ExecExited struct {
	Running bool `json:"running,omitempty"`
	Code    int  `json:"code"`
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

package proto

// Apps answers GET /v1/apps and GET /v1/apps/{app}. Its apps are the
// objects of `nd-push status --json`, field for field (nd-push prints these
// very types): they may gain fields, none is renamed or removed.
type Apps struct {
	Apps []AppStatus `json:"apps"` // sorted by name
}

// AppStatus is one app's deployment state on the host.
type AppStatus struct {
	App        string `json:"app"`
	Generation int    `json:"generation"` // the current one
	Package    string `json:"package"`    // its store path
	DeployedAt string `json:"deployedAt"` // RFC 3339, UTC
	PushedBy   string `json:"pushedBy"`   // user@laptop
	// Container is null when the app has no container.
	Container   *ContainerView   `json:"container"`
	Generations []GenerationView `json:"generations"` // kept on the host, oldest first
	// Error: the agent cannot read this app's state, and says what to do.
	Error string `json:"error,omitempty"`
}

// ContainerView is the state of an app's container in AppStatus.
type ContainerView struct {
	ID           string   `json:"id"`
	State        string   `json:"state"`  // running, restarting, exited, ...
	Health       string   `json:"health"` // "", starting, healthy, unhealthy
	Generation   int      `json:"generation"`
	RestartCount int      `json:"restartCount"`
	StartedAt    string   `json:"startedAt"`
	Ports        []string `json:"ports"` // [HOSTIP:]HOST->CONTAINER/PROTO
	// PortsBy: "nd-agent" (its DNAT rules) or "docker"; "" without ports.
	PortsBy string `json:"portsBy,omitempty"`
	// Routes are where the agent's rules lead: HOST->ADDRESS:PORT/PROTO.
	Routes []string `json:"routes,omitempty"`
	// Draining is the replaced container finishing its connections after
	// an overlap deploy.
	Draining *DrainingContainer `json:"draining,omitempty"`
}

// GenerationView is one kept generation in AppStatus.
type GenerationView struct {
	Number     int    `json:"number"`
	Package    string `json:"package"`
	DeployedAt string `json:"deployedAt"`
	PushedBy   string `json:"pushedBy"`
	RollbackOf int    `json:"rollbackOf,omitempty"` // a rollback to that generation
	Current    bool   `json:"current"`
	Mode       string `json:"mode,omitempty"` // "image" for an image-mode deploy, else host-store
}

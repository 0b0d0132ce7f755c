package proto

// nd-agent check asks the running agent (RouteCheck) to verify, and with
// Repair fix, state, GC roots, containers and store paths against each
// other.

// Check asks for a consistency check of every app on the host.
type Check struct {
	Repair bool `json:"repair,omitempty"`
}

// CheckReport answers Check.
type CheckReport struct {
	Apps     int       `json:"apps"` // apps looked at
	Findings []Finding `json:"findings"`
}

// Finding is one inconsistency.
type Finding struct {
	App     string `json:"app,omitempty"` // "" for the host as a whole
	Problem string `json:"problem"`
	// Repaired says what was done about it ("" if nothing: without Repair,
	// or when it needs a person, as Problem then says).
	Repaired string `json:"repaired,omitempty"`
}

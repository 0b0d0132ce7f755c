// Package proto is the wire protocol between nd-push (internal/agentclient)
// and nd-agent (internal/agent). Both import it; it imports nothing of nd.
//
// Every request is its own stream: a fresh SSH channel to the agent's unix
// socket (direct-streamlocal, or `nd-agent dial-stdio` on an exec channel),
// so requests multiplex over one SSH connection and never share state.
//
// On a stream, both sides exchange frames: a 4-byte big-endian length L, a
// kind byte, and L bytes. A message frame holds one JSON Envelope {type,
// body} of at most MaxMessage bytes; a data frame holds at most MaxData raw
// bytes, and an empty data frame ends a data sequence. A stream is:
//
//	client: Hello            agent: Welcome (always, even on version skew)
//	client: one request      agent: zero or more Progress, then one reply or Error
//
// An Import request is followed by data frames carrying the zstd-compressed
// `nix-store --export` stream, then the empty data frame; the reply comes
// after. The frame format and Hello/Welcome must never change, so that any
// two versions can at least name their versions to each other; everything
// after the handshake may change with Version.
package proto

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the protocol version this code speaks; MinVersion the oldest
// the agent still serves.
const (
	Version    = 2
	MinVersion = 2
)

// Type names a message.
type Type string

// Message types. Requests are answered by the type on their right.
const (
	TypeHello   Type = "hello"   // Hello → Welcome
	TypeWelcome Type = "welcome" // Welcome
	TypeError   Type = "error"   // Error: ends the stream

	TypePing         Type = "ping"          // Ping → Pong
	TypePong         Type = "pong"          // Pong
	TypeStatus       Type = "status"        // Status → StatusReply
	TypeStatusReply  Type = "status-reply"  // StatusReply
	TypeQueryMissing Type = "query-missing" // QueryMissing → Missing
	TypeMissing      Type = "missing"       // Missing
	TypeImport       Type = "import"        // Import + data → Imported
	TypeImported     Type = "imported"      // Imported
	TypeDeploy       Type = "deploy"        // Deploy → Progress... Deployed
	TypeDeployed     Type = "deployed"      // Deployed
	TypeProgress     Type = "progress"      // Progress, before a reply
	TypeRealise      Type = "realise"       // Realise → Progress... Realised
	TypeRealised     Type = "realised"      // Realised

	// Reserved for later versions (image mode and operations); an agent
	// that lacks one answers Error{Code: CodeUnsupported}:
	// "missing-layers", "upload-layer". Operations are in ops.go.
)

// Hello opens every stream.
type Hello struct {
	Protocol  int    `json:"protocol"`
	NDVersion string `json:"ndVersion"`
	Client    string `json:"client"` // e.g. "nd-push"
}

// Welcome answers Hello.
type Welcome struct {
	Protocol     int          `json:"protocol"`
	MinProtocol  int          `json:"minProtocol"`
	NDVersion    string       `json:"ndVersion"`
	Hostname     string       `json:"hostname"`
	Capabilities Capabilities `json:"capabilities"`
	Requests     []Type       `json:"requests"` // request types this agent serves
}

// Capabilities says what the host can do.
type Capabilities struct {
	Nix         bool   `json:"nix"` // nix-store on PATH and the store writable
	NixError    string `json:"nixError,omitempty"`
	StoreDir    string `json:"storeDir"`
	Docker      bool   `json:"docker"`
	DockerError string `json:"dockerError,omitempty"`
	// StateDir is the agent's state directory (nd-agent serve --state),
	// where nd-push uploads secret env files; "" from older agents means
	// the default /var/lib/nd-agent.
	StateDir string `json:"stateDir,omitempty"`
}

// Error codes.
const (
	CodeVersion     = "version"        // protocol skew
	CodeBadRequest  = "bad-request"    // malformed or invalid request
	CodeUnsupported = "unsupported"    // unknown request type
	CodeBadStream   = "invalid-stream" // import stream refused
	CodeNoNix       = "no-nix"         // host has no usable Nix
	CodeNoDocker    = "no-docker"      // the host's dockerd does not answer
	CodeNotFound    = "not-found"
	CodeBusy        = "busy"
	CodeDeploy      = "deploy-failed"
	CodeBuild       = "build-failed" // Realise: the failing derivation and its log's tail
	CodeInternal    = "internal"
	CodeNoSpace     = "no-space" // a filesystem of the host is full
)

// Error ends a stream that failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Ping checks the agent answers.
type Ping struct{}

// Pong answers Ping.
type Pong struct {
	Time time.Time `json:"time"`
}

// QueryMissing asks which of Paths the host's store lacks. Paths the host
// has are protected from garbage collection for Session (see Deploy). With
// Substitute, the host first lets its Nix fetch what it lacks from the
// substituters of its own configuration (signatures checked as Nix does);
// an agent that predates the field ignores it and substitutes nothing.
type QueryMissing struct {
	Paths      []string `json:"paths"`
	Session    string   `json:"session,omitempty"`
	Substitute bool     `json:"substitute,omitempty"`
}

// Missing answers QueryMissing, in request order. Substituted are the paths
// the host fetched from its substituters for this query.
type Missing struct {
	Missing     []string `json:"missing"`
	Substituted []string `json:"substituted,omitempty"`
}

// Realise asks the host to build Drv, whose closure it already has (sent
// with Import), substituting what it can from its own substituters unless
// NoSubstitute; its output is protected from garbage collection for
// Session, like an imported path. A failed build answers Error{Code:
// CodeBuild} naming the failing derivation, with the tail of its log.
type Realise struct {
	Drv          string `json:"drv"`
	Session      string `json:"session,omitempty"`
	NoSubstitute bool   `json:"noSubstitute,omitempty"`
}

// Realised answers Realise: the derivation's output paths.
type Realised struct {
	Outputs []string `json:"outputs"`
}

// Compression of an Import's data.
const CompressionZstd = "zstd"

// Import announces an export stream in the following data frames. What it
// imports stays protected from garbage collection for Session.
type Import struct {
	Session     string `json:"session,omitempty"`
	Compression string `json:"compression"`
	Paths       int    `json:"paths"` // how many paths the client sends (a sanity bound)
	// NarBytes is the paths' total NAR size, if the client knows it: the
	// agent refuses an import that cannot fit before reading any of it.
	NarBytes int64 `json:"narBytes,omitempty"`
}

// Imported answers Import.
type Imported struct {
	Paths []string `json:"paths"` // in stream order
	Bytes int64    `json:"bytes"` // uncompressed export bytes read
}

// Deploy deploys the deploy package Package (already in the host's store)
// as App. It ends Session: from now on the app's generation protects the
// package, and the session's temporary roots go.
type Deploy struct {
	App      string `json:"app"`
	Package  string `json:"package"`
	PushedBy string `json:"pushedBy,omitempty"`
	Force    bool   `json:"force,omitempty"` // a new generation even if Package is current
	Session  string `json:"session,omitempty"`
	// Secrets names the secret env files uploaded for this deploy (see
	// internal/agent's secrets.go): a content hash, "" for none. A changed
	// hash alone makes a new generation.
	Secrets string `json:"secrets,omitempty"`
}

// Progress reports a step of a long request.
type Progress struct {
	Stage   string `json:"stage"`
	Message string `json:"message,omitempty"`
}

// Deployed answers Deploy.
type Deployed struct {
	Generation  int    `json:"generation"`
	ContainerID string `json:"containerID"`
	Changed     bool   `json:"changed"` // false: Package was already current and running
}

// Status asks for the deployed apps (App "" = all).
type Status struct {
	App string `json:"app,omitempty"`
}

// StatusReply answers Status.
type StatusReply struct {
	Apps []AppStatus `json:"apps"`
}

// AppStatus is one app's deployment state on the host.
type AppStatus struct {
	App         string       `json:"app"`
	Current     int          `json:"current"`
	Generations []Generation `json:"generations"` // oldest first, current included
	// Container is the runtime's view of the app's container; nil if it
	// has none (or the runtime cannot say).
	Container *ContainerStatus `json:"container,omitempty"`
	// Error says why the agent cannot read the app's state (and what to
	// do); Current and Generations are then empty. Other apps are
	// unaffected.
	Error string `json:"error,omitempty"`
}

// Generation is one recorded deployment of an app.
type Generation struct {
	Number      int       `json:"number"`
	Package     string    `json:"package"`
	PushedBy    string    `json:"pushedBy,omitempty"`
	DeployedAt  time.Time `json:"deployedAt"`
	ContainerID string    `json:"containerID,omitempty"`
	Secrets     string    `json:"secrets,omitempty"`    // see Deploy.Secrets
	RollbackOf  int       `json:"rollbackOf,omitempty"` // this generation is a rollback to that one
	// Mode is "image" for an image-mode deploy (ImageID set), else host-store.
	Mode    string `json:"mode,omitempty"`
	ImageID string `json:"imageID,omitempty"`
}

// Envelope is the JSON of a message frame.
type Envelope struct {
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body,omitempty"`
}

// RemoteError is an Error received from the other side.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// SkewError is a protocol version mismatch, named for the user.
type SkewError struct {
	Host          string // as the user named it
	Agent         int    // the agent's protocol
	AgentMin      int
	Client        int
	AgentVersion  string
	ClientVersion string
}

func (e *SkewError) Error() string {
	msg := fmt.Sprintf("nd-agent on %s speaks protocol %d (nd %s), this nd-push speaks %d (nd %s)",
		e.Host, e.Agent, e.AgentVersion, e.Client, e.ClientVersion)
	if e.Agent > e.Client {
		return msg + ": upgrade nd-push to the release of that nd-agent or newer"
	}
	return msg + ": upgrade nd-agent on " + e.Host + " to nd " + e.ClientVersion
}

// Compatible reports whether a client speaking client can talk to an agent
// that speaks agent and still serves agentMin.
func Compatible(client, agent, agentMin int) bool {
	return client <= agent && client >= agentMin
}

// Handshake sends h on a new stream and reads the agent's Welcome. host
// names the agent in a *SkewError when the versions cannot talk.
func (c *Conn) Handshake(host string, h Hello) (Welcome, error) {
	var w Welcome
	if err := c.Send(TypeHello, h); err != nil {
		return w, err
	}
	if err := c.Expect(TypeWelcome, &w); err != nil {
		return w, fmt.Errorf("handshake with nd-agent on %s: %w", host, err)
	}
	if !Compatible(h.Protocol, w.Protocol, w.MinProtocol) {
		return w, &SkewError{Host: host, Agent: w.Protocol, AgentMin: w.MinProtocol, Client: h.Protocol,
			AgentVersion: w.NDVersion, ClientVersion: h.NDVersion}
	}
	return w, nil
}

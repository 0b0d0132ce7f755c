// Package proto holds the types of nd-agent's local API, which nd-push
// (internal/agentclient) and `nd-agent check` speak to nd-agent
// (internal/agent): requests, replies, progress, error codes and paths. Both
// sides import it; it imports nothing of nd and holds no I/O.
//
// The API is HTTP/1.1 on the agent's unix socket (paths.go), reached by
// nd-push through its SSH connection: each connection is an SSH channel
// (direct-streamlocal to the socket, or `nd-agent dial-stdio` on an exec
// channel), so requests multiplex over one SSH connection. An operator can
// ask it with `curl --unix-socket /run/nd-agent/agent.sock http://nd-agent/v1/apps`.
//
// Bodies are JSON. A request that reports progress answers, once it has
// begun, with Content-Type ContentTypeLines: one Line a line, progress first,
// the last line the reply or an error. A request that fails before any
// progress answers an HTTP error status (HTTPStatus) with one Line holding
// the Error. Uploads (an export stream, image layers) are zstd request
// bodies. Exec upgrades its connection (101 Switching Protocols) to the
// command's raw stream.
package proto

import (
	"encoding/json"
	"net/http"
	"time"
)

// Version is the API version this code speaks; MinVersion the oldest the
// agent still serves. Version 2 was the framed protocol before the HTTP API
// (nd-agent before /v1/info); version 3 is /v1.
const (
	Version    = 3
	MinVersion = 3
)

// Info answers GET /v1/info: what the agent is and what its host can do.
// Clients ask once per connection to the host, not per request.
type Info struct {
	Protocol     int          `json:"protocol"`
	MinProtocol  int          `json:"minProtocol"`
	NDVersion    string       `json:"ndVersion"`
	Hostname     string       `json:"hostname"`
	Capabilities Capabilities `json:"capabilities"`
}

// Capabilities says what the host can do.
type Capabilities struct {
	Nix         bool   `json:"nix"` // nix-store on PATH and the store writable
	NixError    string `json:"nixError,omitempty"`
	StoreDir    string `json:"storeDir"`
	Docker      bool   `json:"docker"`
	DockerError string `json:"dockerError,omitempty"`
	// StateDir is the agent's state directory (nd-agent serve --state),
	// where nd-push uploads secret env files.
	StateDir string `json:"stateDir,omitempty"`
}

// Error codes.
const (
	CodeVersion     = "version"        // API version skew
	CodeBadRequest  = "bad-request"    // malformed or invalid request
	CodeUnsupported = "unsupported"    // the agent does not serve this request
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

// HTTPStatus is the status an error of code answers with when it comes
// before any progress (after it, only the last Line says).
func HTTPStatus(code string) int {
	switch code {
	case CodeBadRequest, CodeBadStream, CodeVersion:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeUnsupported:
		return http.StatusNotImplemented
	case CodeBusy, CodeLayersGone:
		return http.StatusConflict
	case CodeNoNix, CodeNoDocker:
		return http.StatusServiceUnavailable
	case CodeNoSpace:
		return http.StatusInsufficientStorage
	case CodeBuild:
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
	}
}

// Error is a failed request.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Line is one line of a JSON-lines reply (and, holding only Error, the
// body of an error status): exactly one field is set.
type Line struct {
	Progress *Progress       `json:"progress,omitempty"`
	Reply    json.RawMessage `json:"reply,omitempty"`
	Error    *Error          `json:"error,omitempty"`
}

// Progress reports a step of a long request.
type Progress struct {
	Stage   string `json:"stage"`
	Message string `json:"message,omitempty"`
}

// QueryMissing asks which of Paths the host's store lacks. Paths the host
// has are protected from garbage collection for Session (see Deploy). With
// Substitute, the host first lets its Nix fetch what it lacks from the
// substituters of its own configuration (signatures checked as Nix does).
//
// With Overlap too, the host answers as soon as its Nix has said which
// paths it will fetch (Missing.Substituting) and fetches them in the
// background: an Import of the same Session waits for that before it
// registers a path referring to one of them, and a later QueryMissing of
// the Session waits for it before it answers. Hosts before Overlap
// ignore it and answer once the substitution is over.
type QueryMissing struct {
	Paths      []string `json:"paths"`
	Session    string   `json:"session,omitempty"`
	Substitute bool     `json:"substitute,omitempty"`
	Overlap    bool     `json:"overlap,omitempty"`
}

// Missing answers QueryMissing, in request order. Substituted are the paths
// the host fetched from its substituters for this query; Substituting
// those it is still fetching (Overlap), which are in neither list.
type Missing struct {
	Missing      []string `json:"missing"`
	Substituted  []string `json:"substituted,omitempty"`
	Substituting []string `json:"substituting,omitempty"`
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

// CompressionZstd is the only encoding of upload bodies (Content-Encoding).
const CompressionZstd = "zstd"

// Import describes the export stream in an import's body; it travels as the
// query parameters named by its tags. What it imports stays protected from
// garbage collection for Session.
type Import struct {
	Session string `json:"session,omitempty"`
	Paths   int    `json:"paths"` // how many paths the client sends (a sanity bound)
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

// Deployed answers Deploy.
type Deployed struct {
	Generation  int    `json:"generation"`
	ContainerID string `json:"containerID"`
	Changed     bool   `json:"changed"` // false: Package was already current and running
}

// Generation is one recorded deployment of an app (the agent's state).
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

func (e *Error) Error() string { return e.Message }

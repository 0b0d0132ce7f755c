package proto

import "encoding/json"

// Image mode: for hosts without a usable Nix (or nd-push -b), nd-push builds
// the full layered image itself and sends only the layers the host's dockerd
// lacks. Two streams:
//
//	client: QueryLayers       agent: Layers (how many bottom layers it has)
//	client: DeployImage, data frames (zstd docker-archive), end frame
//	                          agent: Progress..., Deployed or Error
//
// Docker shares layers only as whole bottom stacks (chain IDs), so the
// answer to QueryLayers is a prefix length and the archive leaves out exactly
// that many bottom layers.
const (
	TypeQueryLayers Type = "query-layers" // QueryLayers → Layers
	TypeLayers      Type = "layers"       // Layers
	TypeDeployImage Type = "deploy-image" // DeployImage + data → Progress... Deployed
)

// CodeLayersGone refuses a DeployImage whose skipped bottom layers the host
// no longer has (an image was removed since QueryLayers): ask again.
const CodeLayersGone = "layers-gone"

// MaxImageLayers bounds an image's layers in image-mode requests (overlay2
// stacks at most 128).
const MaxImageLayers = 128

// QueryLayers asks how many of the bottom layers of an image with DiffIDs
// (bottom first) the host's dockerd already holds as a stack.
type QueryLayers struct {
	DiffIDs []string `json:"diffIDs"`
}

// Layers answers QueryLayers.
type Layers struct {
	Have int `json:"have"` // bottom layers present; the client leaves them out
}

// DeployImage loads a docker-archive of a deploy package's layered image
// from the data frames that follow (zstd-compressed; the bottom Skip layers
// left out) and deploys it as App, like Deploy but without /nix/store.
type DeployImage struct {
	App      string `json:"app"`
	Package  string `json:"package"` // the deploy package's store path (a name here)
	PushedBy string `json:"pushedBy,omitempty"`
	Force    bool   `json:"force,omitempty"`
	// ImageID is "sha256:<hex>" of the image config; the archive must hold
	// exactly this config.
	ImageID string   `json:"imageID"`
	RepoTag string   `json:"repoTag"`
	DiffIDs []string `json:"diffIDs"` // every layer, bottom first
	Skip    int      `json:"skip"`    // bottom layers not in the archive
	// Manifest is the deploy package's nd-manifest.json: the host has no
	// store to read it from.
	Manifest    json.RawMessage `json:"manifest"`
	Compression string          `json:"compression"` // CompressionZstd
	// Secrets names the secret env files uploaded for this deploy, as in
	// Deploy.Secrets.
	Secrets string `json:"secrets,omitempty"`
}

package proto

import "encoding/json"

// Image mode: for hosts without a usable Nix (or nd-push -b), nd-push builds
// the full layered image itself and sends only the layer blobs the agent's
// image store lacks. Two requests:
//
//	RouteQueryBlobs: QueryBlobs → Blobs (the digests it lacks)
//	RouteDeployImage: the DeployImage, then the Send layers zstd-compressed,
//	   one after the other, each exactly its announced size → lines... Deployed
//
// The agent checks every blob's digest before keeping it, serves the image
// to its dockerd through a registry on 127.0.0.1 and dockerd pulls what it
// lacks, on either of Docker's image stores.

// CodeLayersGone refuses a DeployImage whose left-out layers the host no
// longer has (collected since QueryBlobs): ask again.
const CodeLayersGone = "layers-gone"

// MaxImageLayers bounds an image's layers in image-mode requests (overlay2
// stacks at most 128).
const MaxImageLayers = 128

// MaxImageConfig bounds an image config's size.
const MaxImageConfig = 1 << 20

// QueryBlobs asks which of the layer blobs named by Digests (sha256:<hex>
// of the uncompressed tar, the diffID) the host's image store lacks.
type QueryBlobs struct {
	Digests []string `json:"digests"`
}

// Blobs answers QueryBlobs.
type Blobs struct {
	Missing []string `json:"missing"` // the client sends exactly these
}

// Blob is a layer of an image: its digest and size.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// DeployImage stores the layers that follow it in the body
// (zstd-compressed), has dockerd pull the image and deploys it as App,
// like Deploy but without /nix/store.
type DeployImage struct {
	App      string `json:"app"`
	Package  string `json:"package"` // the deploy package's store path (a name here)
	PushedBy string `json:"pushedBy,omitempty"`
	Force    bool   `json:"force,omitempty"`
	// ImageID is "sha256:<hex>" of Config.
	ImageID string `json:"imageID"`
	RepoTag string `json:"repoTag"`
	// Config is the image config, byte for byte (its digest is ImageID).
	Config []byte `json:"config"`
	// Layers are every layer, bottom first; Config's diff_ids list them.
	Layers []Blob `json:"layers"`
	// Send lists the layers in the data, in order, each once; the others
	// must be in the host's store already.
	Send []string `json:"send"`
	// Manifest is the deploy package's nd-manifest.json: the host has no
	// store to read it from.
	Manifest json.RawMessage `json:"manifest"`
	// Secrets names the secret env files uploaded for this deploy, as in
	// Deploy.Secrets.
	Secrets string `json:"secrets,omitempty"`
}

// PrepareImage (RoutePrepareImage → PreparedImage) has the agent make the
// metadata-only image of a host-store deploy ahead of the deploy, while the
// closure is still on its way (or being substituted): dockerd's pull then
// leaves the deploy's path. The client builds the image's one layer from
// its own store; the agent makes the config itself from Manifest. It is
// only a head start: the deploy builds the image from the host's store
// again and uses the prepared one only when it is the same image, byte for
// byte (image IDs are content digests).
type PrepareImage struct {
	Package string `json:"package"`
	Session string `json:"session,omitempty"` // the push's session: its end drops an unused prepared image
	// Manifest is the package's nd-manifest.json, byte for byte.
	Manifest json.RawMessage `json:"manifest"`
	// Layer is the metadata layer tar (/etc, /tmp, the /nix/store mount
	// point) as the client built it.
	Layer []byte `json:"layer"`
}

// MaxPrepareLayer bounds PrepareImage.Layer (the request body is bounded
// too): a bigger /etc is not worth a head start.
const MaxPrepareLayer = 2 << 20

// PreparedImage answers PrepareImage: dockerd's ID of the image.
type PreparedImage struct {
	ImageID string `json:"imageID"`
}

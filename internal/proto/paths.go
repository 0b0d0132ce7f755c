package proto

// The API's routes, as Go's http.ServeMux patterns. {app} is an app name,
// {id} an exec's ID (the upgrade's ExecIDHeader).
const (
	RouteInfo         = "GET /v1/info"                        // → Info
	RouteApps         = "GET /v1/apps"                        // → Apps
	RouteApp          = "GET /v1/apps/{app}"                  // → Apps (one app; not-found if not deployed)
	RouteDeploy       = "POST /v1/apps/{app}/deploy"          // Deploy → lines... Deployed
	RouteDeployImage  = "POST /v1/apps/{app}/deploy-image"    // ContentTypeDeployImage → lines... Deployed
	RoutePrepareImage = "POST /v1/apps/{app}/prepare-image"   // PrepareImage → PreparedImage
	RouteRollback     = "POST /v1/apps/{app}/rollback"        // Rollback → lines... Deployed
	RouteRemove       = "DELETE /v1/apps/{app}"               // ?volumes=1 → lines... Removed
	RouteLifecycle    = "POST /v1/apps/{app}/{action}"        // restart, stop, start → lines... AppState
	RouteLogs         = "GET /v1/apps/{app}/logs"             // ?follow=1&tail=N&since=UNIX&timestamps=1 → the output
	RouteExec         = "POST /v1/apps/{app}/exec"            // Exec, Upgrade: ExecUpgrade → 101, the command's stream
	RouteExecResize   = "POST /v1/execs/{id}/resize"          // Resize → {}
	RouteExecInspect  = "GET /v1/execs/{id}"                  // → ExecExited
	RouteQueryMissing = "POST /v1/store/query-missing"        // QueryMissing → Missing
	RouteImport       = "POST /v1/store/import"               // ?session&paths&narBytes, zstd export stream → Imported
	RouteRealise      = "POST /v1/store/realise"              // Realise → lines... Realised
	RouteQueryBlobs   = "POST /v1/images/blobs/query-missing" // QueryBlobs → Blobs
	RouteCheck        = "POST /v1/check"                      // Check → CheckReport
)

// Content types of bodies.
const (
	ContentTypeJSON  = "application/json"
	ContentTypeLines = "application/x-ndjson" // one Line a line
	// ContentTypeExport is an import's body: a `nix-store --export` stream,
	// with Content-Encoding: zstd.
	ContentTypeExport = "application/vnd.nd.nix-export"
	// ContentTypeDeployImage is a deploy-image body: the DeployImage as one
	// line of JSON, then the layers it sends as one zstd stream.
	ContentTypeDeployImage = "application/vnd.nd.deploy-image"
	// The 101 answer to an exec says how its stream is made: raw bytes with
	// a terminal, else Docker's multiplexed stream (8-byte headers naming
	// stdout or stderr and the length).
	ContentTypeRawStream         = "application/vnd.docker.raw-stream"
	ContentTypeMultiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// Exec's upgrade.
const (
	ExecUpgrade  = "nd-exec"    // the Upgrade header's protocol
	ExecIDHeader = "Nd-Exec-Id" // in the 101 answer: the exec's ID for resize and exit code
)

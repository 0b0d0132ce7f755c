package manifest

import (
	"regexp"
	"strconv"
)

// The names nd gives to what it creates on a host for an app. Each one is
// injective in its parts: two different (app, volume, role) tuples never get
// the same name, and no temporary or volume name can be the container name of
// any valid app. Keep every such scheme here, so the agent, its runtime and
// their tests share one.
//
//	container         nd-<app>
//	temporary         nd.<role>-<app>          (role: new, prev; "nd." is never "nd-")
//	volume            nd.<len(app)>.<app>.<vol> (the length splits app from vol)
//	legacy volume     nd-<app>-<vol>           (earlier agents; not injective, kept only where
//	                                            its labels say it is that app's volume)
//	image repository  nd/<app> (internal/image.Repository)
//	GC roots          <gcroots>/<app>/<generation>; pushes in progress under
//	                  <gcroots>/SessionRootsDir/<session> (SessionRootsDir is no valid app name)
//	state             <state>/apps/<app>/...
//
// App and volume names match nameRE, which has no '/' and cannot start with
// '.', so path-based names are injective as they are.

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// ValidName reports whether s can name an app (and so a container) or a volume.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ContainerName is the container of an app.
func ContainerName(app string) string { return "nd-" + app }

// Roles of temporary containers while a deploy replaces an app's container.
const (
	RoleNew  = "new"
	RolePrev = "prev"
)

// TempContainerName is the name of the app's container in role (RoleNew,
// RolePrev) during a deploy. It starts with "nd." where every ContainerName
// starts with "nd-", so no app can hold it.
func TempContainerName(app, role string) string { return "nd." + role + "-" + app }

// LegacyTempContainerName is what earlier agents called a temporary
// container ("nd-X.new" is also the container of app "X.new"): only one whose
// labels name app may be treated as app's.
func LegacyTempContainerName(app, role string) string { return ContainerName(app) + "." + role }

// VolumeName is the Docker volume name of an app's volume.
func VolumeName(app, vol string) string {
	return "nd." + strconv.Itoa(len(app)) + "." + app + "." + vol
}

// LegacyVolumeName is the volume name of earlier agents: app "vc" with
// volume "x-data" and app "vc-x" with volume "data" share it, so it is used
// only where a volume of that name exists and its labels say it belongs to
// app.
func LegacyVolumeName(app, vol string) string { return "nd-" + app + "-" + vol }

// SessionRootsDir is the directory under the agent's GC roots holding the
// roots of pushes in progress. It starts with '_', which no app name does,
// so it never meets an app's directory of generation roots.
const SessionRootsDir = "_sessions"

// LegacySessionRootsDir is where earlier agents kept them; it is also the
// roots directory of an app named "tmp".
const LegacySessionRootsDir = "tmp"

// Deploy modes, as the nd.mode label, the agent's generations
// (proto.Generation.Mode; earlier agents left host-store's empty) and
// nd-push's results name them.
const (
	ModeHostStore = "host-store" // the package runs from the host's /nix/store
	ModeImage     = "image"      // a full layered image, no /nix mount
)

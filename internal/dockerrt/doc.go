// Package dockerrt is nd-agent's Docker side: it loads nd images, replaces an
// app's container with health-checked rollback, and reports on, streams logs
// of, and removes nd-managed containers. It talks to dockerd through the
// Client subset of the Docker Go client; nd-push must not import it.
package dockerrt

// Package image builds Docker/OCI images of deploy packages without a Docker
// daemon: deterministic layer tars (from Nix store paths or from small
// synthesized file sets), the image config derived from the manifest, and
// writers for the docker-archive format (what `docker load` reads) and the OCI
// image layout, the OCI manifest both nd-push and nd-agent derive from an
// image (OCIManifest), and a go-containerregistry v1.Image of it (V1, for
// pushing to registries).
//
// The same inputs always give the same bytes: fixed mtimes, uid/gid 0,
// store-like modes, sorted entries, a fixed creation time. So the same deploy
// package always gives the same image ID, and a layer that did not change
// keeps its diffID.
//
// Both nd-push (image mode: the full layered image) and nd-agent (host-store
// mode: the metadata-only image) import it, so it must not import the Docker
// client.
package image

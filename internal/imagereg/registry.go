package imagereg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Registry serves a Store's blobs, and the manifests given to PutManifest,
// to the host's dockerd over HTTP on 127.0.0.1.
type Registry struct {
	store *Store
	inner http.Handler
	l     net.Listener
	srv   *http.Server
}

// blobs is the registry's view of the Store: reads only.
type blobs struct{ s *Store }

var (
	_ registry.BlobHandler     = blobs{}
	_ registry.BlobStatHandler = blobs{}
)

func (b blobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	f, err := b.s.Open(h.String())
	if errors.Is(err, os.ErrNotExist) {
		return nil, registry.ErrNotFound
	}
	return f, err
}

func (b blobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	n, err := b.s.Size(h.String())
	if errors.Is(err, os.ErrNotExist) {
		return 0, registry.ErrNotFound
	}
	return n, err
}

// Serve starts the registry on a free port of 127.0.0.1. Requests from the
// network may only read (GET, HEAD): blobs enter the store through Put
// after their digest was checked, manifests through PutManifest.
func (s *Store) Serve() (*Registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the image registry: %w", err)
	}
	r := &Registry{
		store: s,
		inner: registry.New(registry.WithBlobHandler(blobs{s}), registry.Logger(log.New(io.Discard, "", 0))),
		l:     l,
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serveRead), ReadHeaderTimeout: 30 * time.Second}
	go r.srv.Serve(l)
	return r, nil
}

func (r *Registry) serveRead(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "this registry is read-only", http.StatusMethodNotAllowed)
		return
	}
	r.inner.ServeHTTP(w, req)
}

// Addr is the registry's host:port, the first part of its image references.
func (r *Registry) Addr() string { return r.l.Addr().String() }

// Store is the store the registry serves.
func (r *Registry) Store() *Store { return r.store }

// Close stops serving.
func (r *Registry) Close() error { return r.srv.Close() }

// PutManifest makes the image manifest (an OCI image manifest, whose blobs
// must be in the store) available as repo@digest and returns that
// reference, for dockerd to pull.
func (r *Registry) PutManifest(repo string, manifest []byte, mediaType string) (string, error) {
	h, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		return "", err
	}
	req := httptest.NewRequest(http.MethodPut, "/v2/"+repo+"/manifests/"+h.String(), bytes.NewReader(manifest))
	req.Header.Set("Content-Type", mediaType)
	rec := httptest.NewRecorder()
	r.inner.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		return "", fmt.Errorf("registering manifest %s of %s: %d %s", h, repo, rec.Code, rec.Body.String())
	}
	return r.Addr() + "/" + repo + "@" + h.String(), nil
}

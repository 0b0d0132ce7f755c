// Package imagereg is nd-agent's image store for the host's dockerd: image
// blobs (layer tars and configs) kept content-addressed on disk, so that
// nd-push sends only the blobs the host lacks, and a read-only OCI
// distribution registry on 127.0.0.1 that serves them, with the manifests
// of the images being deployed, to the local dockerd.
//
// dockerd pulls from it and so fetches exactly the blobs its own store
// lacks, and it names the image as the registry served it: that works the
// same on Docker's classic image store and on its containerd image store
// (where `docker load` names images by a manifest digest nd cannot know and
// refuses archives that leave out layers). Docker treats registries on
// loopback addresses as insecure, so no TLS is involved. The registry
// protocol is go-containerregistry's pkg/registry; this package adds the
// disk-backed, verified blob store and refuses everything but reads from the
// network.
//
// Only internal/agent and internal/dockerrt import it.
package imagereg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// DigestRE matches the digests this store holds: "sha256:" and 64 hex digits.
var DigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ErrDigest is wrapped by Put's error when the bytes do not match the digest
// or size they were announced with.
var ErrDigest = errors.New("content does not match its digest")

// Store keeps blobs as dir/sha256/<hex>, written through a temporary file
// and renamed into place only after their digest was checked, so a blob
// that is there is whole. Its methods are safe for concurrent use.
type Store struct {
	dir string

	mu   sync.Mutex
	pins map[string]int // blobs in use by deploys under way: never collected
	// mem holds blobs served from memory while a caller holds them (Hold):
	// host-store mode's small metadata images, which are made again from
	// the store whenever needed and so take no room on disk.
	mem map[string]*memBlob
}

type memBlob struct {
	data  []byte
	holds int
}

// Open makes (if missing) and opens the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("opening image blob store: %w", err)
	}
	return &Store{dir: dir, pins: map[string]int{}, mem: map[string]*memBlob{}}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(digest string) string {
	return filepath.Join(s.dir, "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// Size returns the size of blob digest, or an error wrapping os.ErrNotExist.
func (s *Store) Size(digest string) (int64, error) {
	if !DigestRE.MatchString(digest) {
		return 0, fmt.Errorf("bad digest %q", digest)
	}
	s.mu.Lock()
	m := s.mem[digest]
	s.mu.Unlock()
	if m != nil {
		return int64(len(m.data)), nil
	}
	fi, err := os.Stat(s.path(digest))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Missing returns the digests (of those given) the store lacks, in order.
func (s *Store) Missing(digests []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, d := range digests {
		if seen[d] {
			continue
		}
		seen[d] = true
		if _, err := s.Size(d); err != nil {
			out = append(out, d)
		}
	}
	return out
}

// Open opens blob digest for reading.
func (s *Store) Open(digest string) (io.ReadCloser, error) {
	if !DigestRE.MatchString(digest) {
		return nil, fmt.Errorf("bad digest %q", digest)
	}
	s.mu.Lock()
	m := s.mem[digest]
	s.mu.Unlock()
	if m != nil {
		return io.NopCloser(bytes.NewReader(m.data)), nil
	}
	return os.Open(s.path(digest))
}

// Hold serves data as a blob from memory until release is called, without
// writing it to disk, and returns its digest.
func (s *Store) Hold(data []byte) (digest string, release func()) {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	s.mu.Lock()
	m := s.mem[d]
	if m == nil {
		m = &memBlob{data: data}
		s.mem[d] = m
	}
	m.holds++
	s.mu.Unlock()
	var once sync.Once
	return d, func() {
		once.Do(func() {
			s.mu.Lock()
			if m.holds--; m.holds <= 0 {
				delete(s.mem, d)
			}
			s.mu.Unlock()
		})
	}
}

// Put reads exactly size bytes from r as blob digest. The blob is kept only
// if they hash to digest; otherwise the error wraps ErrDigest (or the
// reader's error) and nothing is left behind.
func (s *Store) Put(digest string, size int64, r io.Reader) error {
	if !DigestRE.MatchString(digest) {
		return fmt.Errorf("bad digest %q", digest)
	}
	if size < 0 {
		return fmt.Errorf("blob %s: bad size %d", digest, size)
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "sha256"), ".put-*")
	if err != nil {
		return fmt.Errorf("storing blob %s: %w", digest, err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size))
	if err == nil && n < size {
		err = fmt.Errorf("blob %s: %d of %d bytes: %w", digest, n, size, io.ErrUnexpectedEOF)
	}
	if err == nil && "sha256:"+hex.EncodeToString(h.Sum(nil)) != digest {
		err = fmt.Errorf("blob %s: %w", digest, ErrDigest)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("storing blob %s: %w", digest, cerr)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), s.path(digest)); err != nil {
		return fmt.Errorf("storing blob %s: %w", digest, err)
	}
	return nil
}

// PutBytes stores data as a blob and returns its digest.
func (s *Store) PutBytes(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	if _, err := s.Size(d); err == nil {
		return d, nil
	}
	return d, s.Put(d, int64(len(data)), strings.NewReader(string(data)))
}

// Pin keeps digests from being collected until the returned function is
// called: a deploy pins what it relies on, from checking that the store
// has it until dockerd pulled it.
func (s *Store) Pin(digests []string) (unpin func()) {
	s.mu.Lock()
	for _, d := range digests {
		s.pins[d]++
	}
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			for _, d := range digests {
				if s.pins[d]--; s.pins[d] <= 0 {
					delete(s.pins, d)
				}
			}
			s.mu.Unlock()
		})
	}
}

// Collect removes every blob that is neither in keep nor pinned, and
// returns how many it removed and their bytes.
func (s *Store) Collect(keep map[string]bool) (n int, bytes int64, err error) {
	dir := filepath.Join(s.dir, "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("collecting image blobs: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		d := "sha256:" + e.Name()
		if !DigestRE.MatchString(d) || keep[d] || s.pins[d] > 0 {
			continue // temporary files belong to a Put under way
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			n++
			bytes += fi.Size()
		}
	}
	return n, bytes, nil
}

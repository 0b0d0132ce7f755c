package image

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// layerFormat changes whenever the tar encoding of store layers changes, so
// cached diffIDs of an older encoding are not used.
const layerFormat = "nd-store-layer-v1"

// DiffIDCache remembers the diffIDs of store layers. Store paths never change
// once valid, so a layer of the same paths always has the same bytes and the
// cache saves the hashing pass over the closure. Layer.WriteTo still checks
// the digest, so a wrong entry fails loudly instead of corrupting an image.
type DiffIDCache interface {
	Get(key string) (diffID string, size int64, ok bool)
	Put(key, diffID string, size int64)
}

// DirCache is a DiffIDCache keeping one small file per layer in a directory
// (created on first Put). Errors only cost a cache miss.
type DirCache string

func (d DirCache) file(key string) string {
	return filepath.Join(string(d), digestHex([]byte(key)))
}

// Get implements DiffIDCache.
func (d DirCache) Get(key string) (string, int64, bool) {
	b, err := os.ReadFile(d.file(key))
	if err != nil {
		return "", 0, false
	}
	id, sz, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	size, err := strconv.ParseInt(sz, 10, 64)
	if !ok || err != nil || !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		return "", 0, false
	}
	return id, size, true
}

// Put implements DiffIDCache.
func (d DirCache) Put(key, diffID string, size int64) {
	if os.MkdirAll(string(d), 0o755) != nil {
		return
	}
	f := d.file(key)
	tmp := fmt.Sprintf("%s.%d.tmp", f, os.Getpid())
	if os.WriteFile(tmp, []byte(fmt.Sprintf("%s %d\n", diffID, size)), 0o644) == nil {
		if os.Rename(tmp, f) != nil {
			os.Remove(tmp)
		}
	}
}

func cacheKey(paths []string) string {
	return layerFormat + "\n" + strings.Join(paths, "\n")
}

package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
)

// DefaultMaxLayers bounds a layered image's layers. overlay2 allows 128
// lower directories and nixpkgs' buildLayeredImage uses 100, but every
// layer costs dockerd at each pull and the kernel at each container start:
// on the benchmark's 206-path image (docs/BENCHMARKS.md), 24 layers against
// 100 made an update 0.87 s instead of 1.61 s (pull 0.27 s against 0.47,
// start 0.23 s against 0.53) and a cold deploy 18.8 s instead of 24.1 s,
// for 4% more bytes on the cold deploy. The top half still holds one path
// each: the app's own paths, what updates touch.
const DefaultMaxLayers = 24

// PathInfo is what layering needs to know of a store path.
type PathInfo struct {
	Path       string
	NarSize    int64
	References []string
}

// Closure maps each store path of a closure to its info. Every reference
// must itself be a key.
type Closure map[string]PathInfo

// Store is the subset of nixstore.Store that QueryClosure uses.
type Store interface {
	Requisites(ctx context.Context, paths ...string) ([]string, error)
	DumpDB(ctx context.Context, paths []string) ([]byte, error)
}

var _ Store = (*nixstore.Store)(nil)

// QueryClosure asks Nix for the closure of roots with references and sizes:
// the store's requisites of roots, then their registrations (--dump-db).
func QueryClosure(ctx context.Context, s Store, roots ...string) (Closure, error) {
	paths, err := s.Requisites(ctx, roots...)
	if err != nil {
		return nil, fmt.Errorf("querying closure of %s: %w", strings.Join(roots, " "), err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("querying closure of %s: empty", strings.Join(roots, " "))
	}
	reg, err := s.DumpDB(ctx, paths)
	if err != nil {
		return nil, err
	}
	c, err := ParseRegistration(reg)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if _, ok := c[p]; !ok {
			return nil, fmt.Errorf("querying references: %s missing from nix-store --dump-db", p)
		}
	}
	return c, nil
}

// ParseRegistration decodes `nix-store --dump-db` output: per path its name,
// NAR hash, NAR size, deriver, reference count and references, one per line.
func ParseRegistration(data []byte) (Closure, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	c := Closure{}
	for {
		p, ok := next()
		if !ok {
			break
		}
		if p == "" {
			continue
		}
		var fields [4]string
		for i := range fields {
			if fields[i], ok = next(); !ok {
				return nil, fmt.Errorf("parsing registration of %s: truncated", p)
			}
		}
		size, err1 := strconv.ParseInt(fields[1], 10, 64)
		n, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil || n < 0 || n > 1<<20 {
			return nil, fmt.Errorf("parsing registration of %s: bad size or reference count", p)
		}
		info := PathInfo{Path: p, NarSize: size}
		for i := 0; i < n; i++ {
			ref, ok := next()
			if !ok {
				return nil, fmt.Errorf("parsing registration of %s: truncated references", p)
			}
			if ref != p {
				info.References = append(info.References, ref)
			}
		}
		if err := checkStorePath(p); err != nil {
			return nil, fmt.Errorf("parsing registration: %w", err)
		}
		c[p] = info
	}
	return c, sc.Err()
}

// Popularity counts, for each path, how many paths of the closure depend on
// it directly or indirectly, itself included. Paths many others need (libc,
// openssl) score high; the deploy package itself scores 1.
func Popularity(c Closure) (map[string]int, error) {
	deps := map[string]map[string]bool{}
	var visit func(p string, stack map[string]bool) (map[string]bool, error)
	visit = func(p string, stack map[string]bool) (map[string]bool, error) {
		if d, ok := deps[p]; ok {
			return d, nil
		}
		info, ok := c[p]
		if !ok {
			return nil, fmt.Errorf("closure incomplete: %s missing", p)
		}
		if stack[p] {
			return nil, fmt.Errorf("reference cycle through %s", p)
		}
		stack[p] = true
		d := map[string]bool{p: true}
		for _, r := range info.References {
			rd, err := visit(r, stack)
			if err != nil {
				return nil, err
			}
			for x := range rd {
				d[x] = true
			}
		}
		delete(stack, p)
		deps[p] = d
		return d, nil
	}
	pop := map[string]int{}
	for p := range c {
		d, err := visit(p, map[string]bool{})
		if err != nil {
			return nil, err
		}
		for x := range d {
			pop[x]++
		}
	}
	return pop, nil
}

// GroupLayers splits a closure into at most maxGroups groups of store paths,
// bottom layer first.
//
// Docker reuses a layer only together with everything below it (chain IDs),
// so what changes on an update must sit high. Nix propagates change upwards:
// a path changes when anything it depends on changes, so a path with more
// dependencies changes at least as often as each of them. Paths are
// therefore ordered by how many paths they depend on (directly or not),
// fewest first; that puts every path above its dependencies, and the deploy
// package on top. Ties go to the more popular (more paths depend on it:
// widely shared, like libc) and then the larger path first.
//
// If the closure fits, every path gets its own layer. Otherwise the top half
// of the layers hold one path each (the app's own paths, what updates touch)
// and the paths below are cut into contiguous groups of similar size, a path
// bigger than that share getting a group of its own.
func GroupLayers(c Closure, maxGroups int) ([][]string, error) {
	if maxGroups < 1 {
		return nil, fmt.Errorf("grouping layers: need at least one layer")
	}
	pop, err := Popularity(c)
	if err != nil {
		return nil, fmt.Errorf("grouping layers: %w", err)
	}
	// deps[p]: how many paths p depends on, directly or not (Popularity
	// has rejected cycles).
	closures := map[string]map[string]bool{}
	var closure func(p string) map[string]bool
	closure = func(p string) map[string]bool {
		if d, ok := closures[p]; ok {
			return d
		}
		d := map[string]bool{}
		for _, r := range c[p].References {
			if r == p {
				continue
			}
			d[r] = true
			for x := range closure(r) {
				d[x] = true
			}
		}
		closures[p] = d
		return d
	}
	deps := map[string]int{}
	paths := make([]string, 0, len(c))
	for p := range c {
		deps[p] = len(closure(p))
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		a, b := paths[i], paths[j]
		if deps[a] != deps[b] {
			return deps[a] < deps[b]
		}
		if pop[a] != pop[b] {
			return pop[a] > pop[b]
		}
		if c[a].NarSize != c[b].NarSize {
			return c[a].NarSize > c[b].NarSize
		}
		return a < b
	})
	if len(paths) <= maxGroups {
		out := make([][]string, len(paths))
		for i, p := range paths {
			out[i] = []string{p}
		}
		return out, nil
	}
	own := maxGroups / 2
	bottom, top := paths[:len(paths)-own], paths[len(paths)-own:]
	out := chunkBySize(c, bottom, maxGroups-own)
	for _, p := range top {
		out = append(out, []string{p})
	}
	return out, nil
}

// chunkBySize cuts paths into at most n contiguous groups of about equal
// NarSize; a path bigger than its share gets a group of its own.
func chunkBySize(c Closure, paths []string, n int) [][]string {
	var out [][]string
	var left int64
	for _, p := range paths {
		left += c[p].NarSize
	}
	for i := 0; i < len(paths); {
		if n <= 1 {
			return append(out, paths[i:])
		}
		if len(paths)-i <= n {
			for _, p := range paths[i:] {
				out = append(out, []string{p})
			}
			return out
		}
		share := left / int64(n)
		j := i
		var sz int64
		for j < len(paths) {
			s := c[paths[j]].NarSize
			if j > i && sz+s > share {
				break // p would overfill this group: it starts the next
			}
			sz += s
			j++
			if sz >= share {
				break
			}
		}
		out = append(out, paths[i:j])
		left -= sz
		n--
		i = j
	}
	return out
}

// Layered builds the full image for image mode: the closure's store paths in
// at most opts.MaxLayers-1 layers (GroupLayers), then the metadata layer. The
// image runs without any /nix bind mount. closure must hold pkg's closure
// (QueryClosure).
func Layered(m *manifest.Manifest, pkg string, closure Closure, opts Options) (*Image, error) {
	if _, ok := closure[pkg]; !ok {
		return nil, fmt.Errorf("building layered image: %s not in the closure", pkg)
	}
	max := opts.MaxLayers
	if max <= 0 {
		max = DefaultMaxLayers
	}
	if max < 2 {
		return nil, fmt.Errorf("building layered image: need at least 2 layers")
	}
	var layers []*Layer
	if opts.Base != nil {
		layers = append(layers, opts.Base.Layers...)
	}
	if max-len(layers) < 2 {
		return nil, fmt.Errorf("building layered image: base has %d layers, limit %d", len(layers), max)
	}
	groups, err := GroupLayers(closure, max-1-len(layers))
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		l, err := storeLayer(opts.StoreRoot, opts.Cache, g)
		if err != nil {
			return nil, fmt.Errorf("building layered image: %w", err)
		}
		layers = append(layers, l)
	}
	// The package's whole closure bounds what /etc may come from; with a
	// base, closure lacks what the base holds, so the caller says it.
	in := opts.inClosure()
	if in == nil {
		in = func(p string) bool { _, ok := closure[p]; return ok }
	}
	meta, err := metadataLayer(opts.StoreRoot, m, in)
	if err != nil {
		return nil, err
	}
	return newImage(m, pkg, append(layers, meta), opts)
}

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
)

// DefaultMaxLayers bounds a layered image's layers (overlay2 allows 128
// lower directories; stay well below, like nixpkgs' buildLayeredImage).
const DefaultMaxLayers = 100

// PathInfo is what layering needs to know of a store path.
type PathInfo struct {
	Path       string
	NarSize    int64
	References []string
}

// Closure maps each store path of a closure to its info. Every reference
// must itself be a key.
type Closure map[string]PathInfo

// Runner runs an external command and returns its standard output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// QueryClosure asks Nix for the closure of roots with references and sizes:
// `nix-store -qR` then `nix-store --dump-db` of those paths.
func QueryClosure(ctx context.Context, run Runner, roots ...string) (Closure, error) {
	out, err := run(ctx, "nix-store", append([]string{"--query", "--requisites"}, roots...)...)
	if err != nil {
		return nil, fmt.Errorf("querying closure of %s: %w", strings.Join(roots, " "), err)
	}
	paths := strings.Fields(string(out))
	if len(paths) == 0 {
		return nil, fmt.Errorf("querying closure of %s: empty", strings.Join(roots, " "))
	}
	reg, err := run(ctx, "nix-store", append([]string{"--dump-db"}, paths...)...)
	if err != nil {
		return nil, fmt.Errorf("querying references: %w", err)
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
// bottom layer first. If the closure fits, every path gets its own layer.
// Otherwise three quarters of the own-layer slots go to the most popular paths
// (widely shared, so other images and later versions reuse them), the rest to
// the largest remaining paths (an update that leaves them alone does not
// resend them), and all other paths share the top layer, which holds the
// deploy package and so changes on every update anyway. Groups are ordered by
// popularity, most popular at the bottom, so images share long layer prefixes
// (Docker dedups layers by chain ID, i.e. together with everything below).
func GroupLayers(c Closure, maxGroups int) ([][]string, error) {
	if maxGroups < 1 {
		return nil, fmt.Errorf("grouping layers: need at least one layer")
	}
	pop, err := Popularity(c)
	if err != nil {
		return nil, fmt.Errorf("grouping layers: %w", err)
	}
	paths := make([]string, 0, len(c))
	for p := range c {
		paths = append(paths, p)
	}
	byPop := func(ps []string) {
		sort.Slice(ps, func(i, j int) bool {
			a, b := ps[i], ps[j]
			if pop[a] != pop[b] {
				return pop[a] > pop[b]
			}
			if c[a].NarSize != c[b].NarSize {
				return c[a].NarSize > c[b].NarSize
			}
			return a < b
		})
	}
	byPop(paths)
	if len(paths) <= maxGroups {
		out := make([][]string, len(paths))
		for i, p := range paths {
			out[i] = []string{p}
		}
		return out, nil
	}
	own := maxGroups - 1
	nPop := (own*3 + 3) / 4
	chosen := map[string]bool{}
	for _, p := range paths[:nPop] {
		chosen[p] = true
	}
	rest := append([]string(nil), paths[nPop:]...)
	sort.SliceStable(rest, func(i, j int) bool { return c[rest[i]].NarSize > c[rest[j]].NarSize })
	for _, p := range rest[:own-nPop] {
		chosen[p] = true
	}
	var out [][]string
	var top []string
	for _, p := range paths {
		if chosen[p] {
			out = append(out, []string{p})
		} else {
			top = append(top, p)
		}
	}
	sort.Strings(top)
	return append(out, top), nil
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
	meta, err := metadataLayer(opts.StoreRoot, m)
	if err != nil {
		return nil, err
	}
	return newImage(m, pkg, append(layers, meta), opts)
}

package image

import (
	"fmt"
	"testing"
)

// chainClosure is a realistic app: n runtime paths (each needing the one
// before and one further down, like libraries), busybox and nd-init
// (leaves), the app's code (needs the runtime's top and busybox), its
// processes file and the deploy package.
func chainClosure(n int, codeVersion int) (Closure, string) {
	c := Closure{}
	var prev []string
	for i := 0; i < n; i++ {
		p := fakePath(1000+i, fmt.Sprintf("rt%d", i))
		var refs []string
		if i > 0 {
			refs = append(refs, prev[i-1])
		}
		if i > 1 {
			refs = append(refs, prev[i/2])
		}
		c[p] = PathInfo{Path: p, NarSize: 2 << 20, References: refs}
		prev = append(prev, p)
	}
	bb := fakePath(1, "busybox")
	c[bb] = PathInfo{Path: bb, NarSize: 2 << 20}
	ini := fakePath(2, "nd-init")
	c[ini] = PathInfo{Path: ini, NarSize: 4 << 20}
	code := fakePath(10+codeVersion, "app-code")
	c[code] = PathInfo{Path: code, NarSize: 10 << 10, References: []string{bb, prev[n-1]}}
	procs := fakePath(20+codeVersion, "processes")
	c[procs] = PathInfo{Path: procs, NarSize: 1 << 10, References: []string{bb, code}}
	pkg := fakePath(30+codeVersion, "nd-deploy-app")
	c[pkg] = PathInfo{Path: pkg, NarSize: 1 << 10, References: []string{ini, procs}}
	return c, pkg
}

// resent is how many bytes of groups b an update from a to b sends: every
// group from the lowest one that differs upwards (Docker reuses layers only
// with everything below them).
func resent(c Closure, a, b [][]string) int64 {
	var n int64
	diverged := false
	for i := range b {
		if !diverged && (i >= len(a) || fmt.Sprint(a[i]) != fmt.Sprint(b[i])) {
			diverged = true
		}
		if diverged {
			for _, p := range b[i] {
				n += c[p].NarSize
			}
		}
	}
	return n
}

func TestGroupLayersUpdateSendsLittle(t *testing.T) {
	for _, n := range []int{5, 200} {
		c1, pkg1 := chainClosure(n, 1)
		c2, pkg2 := chainClosure(n, 2)
		g1, err := GroupLayers(c1, 99)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := GroupLayers(c2, 99)
		if err != nil {
			t.Fatal(err)
		}
		if len(g2) > 99 {
			t.Errorf("n=%d: %d groups, want at most 99", n, len(g2))
		}
		if top := g2[len(g2)-1]; len(top) != 1 || top[0] != pkg2 {
			t.Errorf("n=%d: top group %v, want the package %s alone", n, top, pkg2)
		}
		_ = pkg1
		var total int64
		for _, info := range c2 {
			total += info.NarSize
		}
		if r := resent(c2, g1, g2); r > 100<<10 {
			t.Errorf("n=%d: an update of the app's code resends %d of %d bytes, want only the code, processes and package", n, r, total)
		}
		// Every path sits above the paths it depends on.
		at := map[string]int{}
		for i, g := range g2 {
			for _, p := range g {
				at[p] = i
			}
		}
		for p, info := range c2 {
			for _, r := range info.References {
				if at[r] > at[p] {
					t.Errorf("n=%d: %s (layer %d) below its dependency %s (layer %d)", n, p, at[p], r, at[r])
				}
			}
		}
	}
}

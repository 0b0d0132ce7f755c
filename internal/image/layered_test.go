package image

import (
	"fmt"
	"sort"
	"testing"
)

// fakeClosure: libc used by everything, n libraries using libc, an app
// using all libraries, a big data path used only by the app, the package.
func fakeClosure(n int) (Closure, string) {
	c := Closure{}
	libc := fakePath(0, "glibc")
	c[libc] = PathInfo{Path: libc, NarSize: 30 << 20}
	app := fakePath(1, "app")
	appRefs := []string{libc}
	for i := 0; i < n; i++ {
		p := fakePath(100+i, fmt.Sprintf("lib%d", i))
		c[p] = PathInfo{Path: p, NarSize: int64(1000 + i), References: []string{libc}}
		appRefs = append(appRefs, p)
	}
	data := fakePath(2, "bigdata")
	c[data] = PathInfo{Path: data, NarSize: 500 << 20}
	appRefs = append(appRefs, data)
	c[app] = PathInfo{Path: app, NarSize: 5000, References: appRefs}
	pkg := fakePath(3, "nd-deploy-app")
	c[pkg] = PathInfo{Path: pkg, NarSize: 100, References: []string{app}}
	return c, pkg
}

func TestGroupLayers(t *testing.T) {
	c, pkg := fakeClosure(300)
	groups, err := GroupLayers(c, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 50 {
		t.Fatalf("%d groups, want 50", len(groups))
	}
	seen := map[string]int{}
	for _, g := range groups {
		for _, p := range g {
			seen[p]++
		}
	}
	if len(seen) != len(c) {
		t.Errorf("groups hold %d paths, closure %d", len(seen), len(c))
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s in %d groups", p, n)
		}
	}
	if groups[0][0] != fakePath(0, "glibc") {
		t.Errorf("bottom layer %v, want glibc (most popular)", groups[0])
	}
	top := groups[len(groups)-1]
	if !contains(top, pkg) {
		t.Errorf("deploy package not in the top layer")
	}
	ownData := false
	for _, g := range groups[:len(groups)-1] {
		if len(g) == 1 && g[0] == fakePath(2, "bigdata") {
			ownData = true
		}
	}
	if !ownData {
		t.Errorf("the big path has no layer of its own")
	}

	// An update of the app (new app and package paths) changes only the
	// layers holding them: here the app's own (it is big) and the top one.
	c2, _ := fakeClosure(300)
	delete(c2, fakePath(1, "app"))
	delete(c2, fakePath(3, "nd-deploy-app"))
	app2, pkg2 := fakePath(4, "app"), fakePath(5, "nd-deploy-app")
	c2[app2] = PathInfo{Path: app2, NarSize: 5001, References: c[fakePath(1, "app")].References}
	c2[pkg2] = PathInfo{Path: pkg2, NarSize: 100, References: []string{app2}}
	groups2, err := GroupLayers(c2, 50)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i := range groups {
		if fmt.Sprint(groups[i]) != fmt.Sprint(groups2[i]) {
			changed++
			if !contains(groups[i], fakePath(1, "app")) && !contains(groups[i], pkg) {
				t.Errorf("layer %d changed but holds neither app nor package: %v", i, groups[i])
			}
		}
	}
	if changed != 2 {
		t.Errorf("an app update changed %d layers, want 2", changed)
	}

	// Small closures: one layer per path.
	small, _ := fakeClosure(3)
	g, err := GroupLayers(small, 50)
	if err != nil || len(g) != len(small) {
		t.Errorf("GroupLayers(small) = %d groups, %v; want %d", len(g), err, len(small))
	}
}

func TestGroupLayersRejectsBadClosures(t *testing.T) {
	a, b := fakePath(1, "a"), fakePath(2, "b")
	for name, c := range map[string]Closure{
		"missing": {a: {Path: a, References: []string{b}}},
		"cycle":   {a: {Path: a, References: []string{b}}, b: {Path: b, References: []string{a}}},
	} {
		if _, err := GroupLayers(c, 10); err == nil {
			t.Errorf("%s: GroupLayers succeeded, want an error", name)
		}
	}
}

func TestParseRegistration(t *testing.T) {
	a, b := fakePath(1, "a"), fakePath(2, "b")
	in := a + "\nabc\n42\n\n2\n" + a + "\n" + b + "\n" + b + "\ndef\n7\n/nix/store/x.drv\n0\n"
	c, err := ParseRegistration([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c[a].NarSize != 42 || len(c[a].References) != 1 || c[a].References[0] != b || c[b].NarSize != 7 {
		t.Errorf("ParseRegistration = %+v", c)
	}
	for _, bad := range []string{a + "\nabc\n", a + "\nabc\nx\n\n0\n", a + "\nabc\n1\n\n3\n" + b + "\n", "notapath\nabc\n1\n\n0\n"} {
		if _, err := ParseRegistration([]byte(bad)); err == nil {
			t.Errorf("ParseRegistration(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzParseRegistration(f *testing.F) {
	a := fakePath(1, "a")
	f.Add([]byte(a + "\nabc\n42\n\n1\n" + a + "\n"))
	f.Add([]byte(a + "\nabc\n42\n\n99999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseRegistration(data)
		if err != nil {
			return
		}
		for p, info := range c {
			if p != info.Path {
				t.Fatalf("key %s holds %s", p, info.Path)
			}
		}
	})
}

func contains(ps []string, p string) bool {
	i := sort.SearchStrings(ps, p)
	return i < len(ps) && ps[i] == p
}

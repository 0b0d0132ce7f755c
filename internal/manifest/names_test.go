package manifest

import "testing"

// Names must be injective in their parts, and no temporary or volume name
// may be any app's container name.
func TestNamesInjective(t *testing.T) {
	apps := []string{"vc", "vc-x", "vc-x-data", "x", "a.b", "a", "b.c", "tmp", "2", "2.vc", "x.new", "x.prev", "new-x"}
	vols := []string{"data", "x-data", "x", "b.c", "c", "vc.x-data", "new"}
	seen := map[string]string{}
	add := func(kind, name, what string) {
		t.Helper()
		if prev, dup := seen[name]; dup {
			t.Errorf("%s %q is both %s and %s", kind, name, prev, what)
		}
		seen[name] = what
	}
	for _, a := range apps {
		add("container", ContainerName(a), "container of "+a)
		for _, role := range []string{RoleNew, RolePrev} {
			add("container", TempContainerName(a, role), role+" container of "+a)
		}
	}
	for _, a := range apps {
		for _, v := range vols {
			add("volume", VolumeName(a, v), "volume "+v+" of "+a)
		}
	}
	if ValidName(SessionRootsDir) {
		t.Errorf("SessionRootsDir %q is a valid app name", SessionRootsDir)
	}
}

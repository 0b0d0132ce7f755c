package supervise

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testPasswd = `# test users
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000::/var/lib/app:/bin/sh
nohome:x:1001:1001:::
+nis
broken:x:abc:1:::
`

const testGroup = `root:x:0:
nogroup:x:65534:
app:x:1000:
extra:x:4242:nobody,app
other:x:4343:app
wheel:x:10:
`

func writeUserFiles(t *testing.T) (passwd, group string) {
	t.Helper()
	dir := t.TempDir()
	passwd, group = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(passwd, []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(group, []byte(testGroup), 0o644); err != nil {
		t.Fatal(err)
	}
	return passwd, group
}

func TestLookupUser(t *testing.T) {
	passwd, group := writeUserFiles(t)
	tests := []struct {
		spec string
		want *User
	}{
		{"nobody", &User{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534, 4242}, Home: "/nonexistent"}},
		{"65534", &User{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534, 4242}, Home: "/nonexistent"}},
		{"app", &User{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{1000, 4242, 4343}, Home: "/var/lib/app"}},
		{"app:wheel", &User{Name: "app", UID: 1000, GID: 10, Groups: []uint32{10, 4242, 4343}, Home: "/var/lib/app"}},
		{"app:4343", &User{Name: "app", UID: 1000, GID: 4343, Groups: []uint32{4343, 4242}, Home: "/var/lib/app"}},
		{"1000:77", &User{Name: "app", UID: 1000, GID: 77, Groups: []uint32{77, 4242, 4343}, Home: "/var/lib/app"}},
		{"nohome", &User{Name: "nohome", UID: 1001, GID: 1001, Groups: []uint32{1001}, Home: "/"}},
		{"5000", &User{Name: "5000", UID: 5000, GID: 5000, Groups: []uint32{5000}, Home: "/"}},
		{"root", &User{Name: "root", UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := LookupUser(tt.spec, passwd, group)
			if err != nil {
				t.Fatalf("LookupUser(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LookupUser(%q) mismatch (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}

func TestLookupUserErrors(t *testing.T) {
	passwd, group := writeUserFiles(t)
	for _, spec := range []string{"", "ghost", "broken", "nis", "app:", ":app", "app:nogroupname", "-1"} {
		if got, err := LookupUser(spec, passwd, group); err == nil {
			t.Errorf("LookupUser(%q) = %+v, want an error", spec, got)
		}
	}
	// Without passwd and group files, only numbers work.
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := LookupUser("nobody", missing, missing); err == nil {
		t.Errorf("LookupUser(nobody) without passwd file: want an error")
	}
	got, err := LookupUser("123:456", missing, missing)
	if err != nil {
		t.Fatalf("LookupUser(123:456) without files: %v", err)
	}
	if want := (&User{Name: "123", UID: 123, GID: 456, Groups: []uint32{456}, Home: "/"}); !cmp.Equal(got, want) {
		t.Errorf("LookupUser(123:456) = %+v, want %+v", got, want)
	}
}

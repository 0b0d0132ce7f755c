package nixstore

import (
	"strings"
	"testing"
)

func TestValidStorePath(t *testing.T) {
	h := "0123456789abcdfghijklmnpqrsvwxyz"
	long := strings.Repeat("a", 211)
	tests := []struct {
		p  string
		ok bool
	}{
		{"/nix/store/" + h + "-hello-1.0", true},
		{"/nix/store/" + h + "-a+b_c.d?e=f-G", true},
		{"/nix/store/" + h + "-" + long, true},
		{"/nix/store/" + h + "-" + long + "a", false},
		{"/nix/store/" + h + "-", false},
		{"/nix/store/" + h, false},
		{"/nix/store/" + h + "-.hidden", false},
		{"/nix/store/" + h + "-x/bin", false},
		{"/nix/store/" + h + "-x y", false},
		{"/nix/store/" + h + "-x\x00", false},
		{"/nix/store/" + strings.Replace(h, "z", "e", 1) + "-x", false},
		{"/nix/store/" + h[:31] + "-x", false},
		{"/nix/store/" + h + "x-x", false},
		{"/nix/store//" + h + "-x", false},
		{"/nix/store/../" + h + "-x", false},
		{"nix/store/" + h + "-x", false},
		{"/gnu/store/" + h + "-x", false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidStorePath(tt.p)
		if (err == nil) != tt.ok {
			t.Errorf("ValidStorePath(%q) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func FuzzValidStorePath(f *testing.F) {
	f.Add("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello")
	f.Add("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-.x")
	f.Fuzz(func(t *testing.T, p string) {
		if ValidStorePath(p) != nil {
			return
		}
		name := Name(p)
		if strings.ContainsAny(p[len(StoreDir)+1:], "/\x00") || name == "" || name[0] == '.' || len(name) > maxNameLen {
			t.Fatalf("accepted %q", p)
		}
	})
}

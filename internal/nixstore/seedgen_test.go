package nixstore_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the committed fuzz seeds in testdata/fuzz")

// TestWriteSeeds regenerates testdata/fuzz/FuzzCopyExport with -write-seeds.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		return
	}
	seeds := map[string][]byte{
		"valid-two-paths": sampleStream(),
		"empty":           nt.Export(),
		"unsorted":        nt.Export(nt.ExportPath{Path: pA, Node: nt.Dir(nt.Entry{Name: "b", Node: nt.File("")}, nt.Entry{Name: "a", Node: nt.File("")})}),
		"dotdot":          nt.Export(nt.ExportPath{Path: pA, Node: nt.Dir(nt.Entry{Name: "..", Node: nt.File("")})}),
		"missing-ref":     nt.Export(nt.ExportPath{Path: pB, References: []string{pC}, Node: nt.File("")}),
		"truncated":       sampleStream()[:200],
		"deep":            nt.Export(nt.ExportPath{Path: pA, Node: nt.Dir(nt.Entry{Name: "a", Node: nt.Dir(nt.Entry{Name: "b", Node: nt.Node{Type: "symlink", Target: "../.."}})})}),
	}
	for name, b := range seeds {
		f := filepath.Join("testdata", "fuzz", "FuzzCopyExport", name)
		if err := os.WriteFile(f, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, s := range map[string]string{"ok": pA, "dot": "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-.a", "sub": pA + "/bin"} {
		f := filepath.Join("testdata", "fuzz", "FuzzValidStorePath", name)
		if err := os.WriteFile(f, []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

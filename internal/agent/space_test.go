package agent_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/closure"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	nt "github.com/nd-project/nd/internal/nixstore/nixtest"
	"github.com/nd-project/nd/internal/proto"
	"github.com/nd-project/nd/internal/testutil"
)

// TestImportStoreFull: the host's store lives on a 3 MiB tmpfs. A push of a
// ~4 MB closure is refused before the transfer (nd-push sends the size); an
// import that does not say its size runs out of space and says so too,
// not "broken pipe"; neither leaves temporary pins.
func TestImportStoreFull(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	e := start(t)
	if err := os.MkdirAll(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", e.root).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", e.root).Run() })
	pkg := nt.BuildClosure(t, "full", 1)
	sessions := filepath.Join(e.root, "nix/var/nix/gcroots/nd-agent", manifest.SessionRootsDir)

	_, err := closure.Push(ctx, e.client, pkg, closure.Options{Session: "s1"})
	if !agentclient.IsCode(err, proto.CodeNoSpace) || !strings.Contains(err.Error(), "no space left in /nix: need about 20 MiB, 2 MiB free") {
		t.Errorf("push to a full store: %v", err)
	}
	if ents, _ := os.ReadDir(sessions); len(ents) != 0 {
		t.Errorf("the refused push left pins: %v", ents)
	}

	paths := requisites(t, pkg)
	_, err = e.client.Import(ctx, agentclient.ImportOptions{Session: "s2", Paths: len(paths)}, func(w io.Writer) error {
		return (&nixstore.Store{}).Export(ctx, w, paths)
	})
	if !agentclient.IsCode(err, proto.CodeNoSpace) || !strings.Contains(err.Error(), "no space left in /nix") || strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("import into a full store: %v", err)
	}
	if ents, _ := os.ReadDir(sessions); len(ents) != 0 {
		t.Errorf("the import that ran out of space left pins: %v", ents)
	}
}

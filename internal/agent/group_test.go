package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/testutil"
)

// Opening the socket to a group makes its members root-equivalent (they
// import any store path under any name, deploy any package): serve says so
// when it starts, and the socket is root's alone without --group.
func TestServeGroupIsRootEquivalent(t *testing.T) {
	testutil.RequireRoot(t)
	for _, group := range []string{"", "root"} {
		dir := t.TempDir()
		socket := filepath.Join(dir, "run", "agent.sock")
		var stderr testutil.SyncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		args := []string{"serve", "--socket", socket, "--state", filepath.Join(dir, "state"), "--store-root", filepath.Join(dir, "store")}
		if group != "" {
			args = append(args, "--group", group)
		}
		go func() {
			done <- agent.Main(ctx, agent.Program{Version: "test", Stdout: &stderr, Stderr: &stderr}, args)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), "serving") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		fi, err := os.Stat(socket)
		cancel()
		<-done
		if err != nil {
			t.Fatalf("serve %v: no socket: %v\n%s", args, err, stderr.String())
		}
		warned := strings.Contains(stderr.String(), "root-equivalent")
		if group != "" && !warned {
			t.Errorf("serve --group %s did not say its members are root-equivalent:\n%s", group, stderr.String())
		}
		if group == "" && (warned || fi.Mode().Perm() != 0o600) {
			t.Errorf("serve without --group: socket mode %v, warned %v; want 0600 and no warning", fi.Mode().Perm(), warned)
		}
	}
}

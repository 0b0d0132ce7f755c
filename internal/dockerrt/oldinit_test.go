package dockerrt

import (
	"context"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/testutil"
)

// waitlessInitCommit is the last commit whose nd-init answers probe-ready
// without -wait: the nd-init of every package built before, which a
// rollback or a redeploy of such a package still runs.
const waitlessInitCommit = "82f73cf"

// An nd-init that has probe-ready but not -wait still tells the deploy
// when its processes started: a good app deploys, and an app whose second
// process crash-loops is refused (the settle time alone, 2 s, would let it
// through long before that process goes FATAL).
func TestReadyWithNdInitWithoutWait(t *testing.T) {
	r := runtimeForTest(t)
	bb, etc := storeBusybox(t), storeEtc(t)
	ndInit := storeNdInitBinary(t, testutil.BuildAtCommit(t, waitlessInitCommit, "nd-init")["nd-init"])
	ctx := context.Background()
	app := func(name string, procs ...manifest.Process) *manifest.Manifest {
		procPath := storeProcesses(t, name, procs...)
		return &manifest.Manifest{
			Version: 1, Name: uniqueApp(t, r, name), Init: ndInit, ProcessesFile: procPath, Etc: etc,
			Entrypoint:      []string{ndInit + "/bin/nd-init", procPath},
			StopGracePeriod: 3,
		}
	}
	web := manifest.Process{Name: "web", Command: bb + "/bin/busybox httpd -f -p 8080 -h /", StartSecs: 1}
	if _, err := deploy(ctx, t, r, app("oldinit", web), 1); err != nil {
		t.Fatalf("deploy with an nd-init without probe-ready -wait: %v", err)
	}
	crash := manifest.Process{Name: "crash", Command: bb + "/bin/busybox sh -c 'sleep 0.3; exit 4'", StartSecs: 1}
	_, err := deploy(ctx, t, r, app("oldinitcrash", web, crash), 1)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("deploy of a crash-looping process with an nd-init without -wait: %v, want the container's exit", err)
	}
}

package cli

import (
	"context"
	"strings"
	"testing"
)

// testPushStoreFull: a push that cannot fit in the host's /nix is refused
// before the transfer, saying how much it needs and how much is free, and
// pins nothing (issue 10, finding 5).
func testPushStoreFull(t *testing.T, e *deployEnv) {
	ctx := context.Background()
	url := "http://" + e.d.Addr + ":8090/cgi-bin/info"
	sh := func(script string) string {
		t.Helper()
		out, err := e.d.Exec(ctx, "sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	// A small /nix: a 96 MiB tmpfs with the droplet's store copied in.
	if err := e.d.Stop(ctx, "nd-agent"); err != nil {
		t.Fatal(err)
	}
	sh(`mkdir /tmp/nixcopy && cp -a /nix/. /tmp/nixcopy/ && mount -t tmpfs -o size=96m tmpfs /nix && cp -a /tmp/nixcopy/. /nix/ && rm -rf /tmp/nixcopy`)
	t.Cleanup(func() { e.d.Exec(context.Background(), "umount", "-l", "/nix") })
	e.restartAgent(t, "")
	if code, _, _ := e.push(t, e.d.Name, versionedApp(t, t.TempDir(), "v1", "")); code != 0 {
		t.Fatal("push v1 failed")
	}
	big := `docker.env.BLOB = "${pkgs.runCommand "blob" { } "mkdir $out; head -c 120000000 /dev/urandom > $out/data"}";`
	code, _, errOut := e.push(t, e.d.Name, versionedApp(t, t.TempDir(), "v2", big))
	if code == 0 {
		t.Fatal("a push bigger than the host's /nix succeeded")
	}
	mustContain(t, "push error", errOut, e.d.Name, "no space left in /nix: need about 1", "MiB free")
	if strings.Contains(errOut, "broken pipe") {
		t.Errorf("the error still says broken pipe: %s", errOut)
	}
	if pins := sh(`find /nix/var/nix/gcroots/nd-agent/tmp /nix/var/nix/gcroots/nd-agent/_sessions -mindepth 1 -maxdepth 1 2>/dev/null || true`); strings.TrimSpace(pins) != "" {
		t.Errorf("the refused push left temporary pins: %s", pins)
	}
	e.waitSettled(t, url, "v1")
}

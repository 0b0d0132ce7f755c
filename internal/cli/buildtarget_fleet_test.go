package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nd-project/nd/internal/fleet"
)

// TestPushBuildOnTarget: with --build-on-target the laptop only evaluates;
// the droplet builds the app (its page is made by a build step that never
// ran on the laptop) and deploys it; the laptop's store never holds the
// package. A failing build names the derivation and shows its log's tail,
// and nothing is deployed.
func TestPushBuildOnTarget(t *testing.T) {
	e := newDeployEnv(t, fleet.Options{Nix: true})
	nonce := fmt.Sprintf("%d-%d", os.Getpid(), os.Getuid())
	dir := filepath.Join(t.TempDir(), "ontarget")
	os.MkdirAll(dir, 0o755)
	cfg := filepath.Join(dir, "config.nix")
	os.WriteFile(cfg, []byte(`{ pkgs, ... }:
let page = pkgs.runCommand "ontarget-page" { nonce = "`+nonce+`"; } "mkdir -p $out; echo built on $(hostname) > $out/index.html";
in {
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p 8080 -h ${page}";
  docker.ports = [ 8080 ];
}
`), 0o644)
	code, _, errOut := e.push(t, "--build-on-target", e.d.Name, cfg)
	if code != 0 {
		t.Fatalf("deploy --build-on-target exited %d", code)
	}
	pkg := regexp.MustCompile(`package (/nix/store/\S+)`).FindStringSubmatch(errOut)
	if pkg == nil {
		t.Fatalf("nd-push named no package: %q", errOut)
	}
	if body := get(t, "http://"+e.d.Addr+":8080/"); !strings.Contains(body, "built on") {
		t.Fatalf("app answered %q, want the page built on the droplet", body)
	}
	if out, _ := exec.Command("nix-store", "--check-validity", "--print-invalid", pkg[1]).Output(); strings.TrimSpace(string(out)) != pkg[1] {
		t.Errorf("the laptop's store holds %s; --build-on-target built it here", pkg[1])
	}
	if _, err := e.d.Exec(context.Background(), "nix-store", "--check-validity", pkg[1]); err != nil {
		t.Errorf("the droplet lacks %s: %v", pkg[1], err)
	}

	bad := filepath.Join(t.TempDir(), "broken", "config.nix")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	os.WriteFile(bad, []byte(`{ pkgs, ... }:
let page = pkgs.runCommand "ontarget-broken" { nonce = "`+nonce+`"; } "echo boom-marker-on-the-droplet; exit 3";
in { supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -p 8081 -h ${page}"; }
`), 0o644)
	code, _, errOut = e.push(t, "--build-on-target", e.d.Name, bad)
	if code != 1 || !strings.Contains(errOut, "ontarget-broken.drv") || !strings.Contains(errOut, "boom-marker-on-the-droplet") {
		t.Errorf("failing build on the droplet: exit %d, %q; want 1 naming ontarget-broken.drv with its log", code, errOut)
	}
	if out := e.docker(t, "ps", "-a", "--filter", "name=nd-broken", "--format", "{{.Names}}"); out != "" {
		t.Errorf("a failed build left container %q", out)
	}
}

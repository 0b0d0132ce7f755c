package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// TestTransferFor: each host gets the transfer its agent's capabilities
// and the flags call for, and the user is told why.
func TestTransferFor(t *testing.T) {
	nix := proto.Capabilities{Nix: true, Docker: true}
	noNix := proto.Capabilities{Nix: false, NixError: "nix-store not found", Docker: true}
	for _, c := range []struct {
		name string
		o    pushOptions
		caps proto.Capabilities
		mode string // "" when refused
		said string // in the output, or the error
	}{
		{"host with Nix", pushOptions{}, nix, manifest.ModeHostStore, "host-store mode (nd-agent 1.2)"},
		{"-b", pushOptions{ImageMode: true}, nix, manifest.ModeImage, "image mode (-b given)"},
		{"host without Nix", pushOptions{}, noNix, manifest.ModeImage, "image mode (host has no usable Nix: nix-store not found)"},
		{"build on a host without Nix", pushOptions{BuildOnTarget: true}, noNix, "", "--build-on-target: h has no usable Nix to build with: nix-store not found"},
		{"build on a host with Nix", pushOptions{BuildOnTarget: true}, nix, manifest.ModeHostStore, "host-store mode"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			env := &Env{Stdout: &out, Stderr: &out, Log: hclog.NewNullLogger()}
			r := &pushRun{o: &c.o, env: env, rep: c.o.progress.reporter(env)}
			tr, err := r.transferFor("h", c.caps, "1.2")
			r.rep.finish()
			if c.mode == "" {
				if err == nil || !strings.Contains(err.Error(), c.said) {
					t.Errorf("transferFor = %v, %v; want an error saying %q", tr, err, c.said)
				}
				return
			}
			if err != nil || tr.mode() != c.mode {
				t.Fatalf("transferFor = %v, %v; want mode %s", tr, err, c.mode)
			}
			if !strings.Contains(out.String(), c.said) {
				t.Errorf("output %q, want it to say %q", out.String(), c.said)
			}
		})
	}
}

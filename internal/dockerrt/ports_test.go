package dockerrt

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nd-project/nd/internal/manifest"
)

// The nd.ports label is what the agent re-creates its rules from after a
// reboot: it must read back exactly what was written.
func TestPortsLabelRoundTrip(t *testing.T) {
	ps := []manifest.Port{
		{Host: 8080, Container: 80, Protocol: "tcp"},
		{Host: 53, Container: 5353, Protocol: "udp", HostIP: "127.0.0.1"},
		{Host: 9000, Container: 9000}, // protocol defaults to tcp
	}
	label := encodePorts(ps)
	if label != ":8080:80/tcp,127.0.0.1:53:5353/udp,:9000:9000/tcp" {
		t.Errorf("encodePorts = %q", label)
	}
	got, err := decodePorts(label)
	if err != nil {
		t.Fatal(err)
	}
	ps[2].Protocol = "tcp"
	if diff := cmp.Diff(ps, got); diff != "" {
		t.Errorf("decodePorts(encodePorts(ps)) differs (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"8080", ":x:80/tcp", ":8080:80/sctp", "8080:80/tcp"} {
		if _, err := decodePorts(bad); err == nil {
			t.Errorf("decodePorts(%q) = nil error, want one", bad)
		}
	}
}

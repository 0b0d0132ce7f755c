package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testInit = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nd-init"
	testEtc  = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-etc"
)

func goodManifest() *Manifest {
	return &Manifest{
		Version: Version, Name: "web",
		Entrypoint:    []string{testInit + "/bin/nd-init", testInit + "/processes.json"},
		Init:          testInit,
		ProcessesFile: testInit + "/processes.json",
		Env:           map[string]string{"PATH": "/bin"},
		Ports:         []Port{{Host: 8080, Container: 80}, {Host: 8080, Container: 80, Protocol: "udp"}, {Host: 53, Container: 53, HostIP: "127.0.0.1"}, {Host: 53, Container: 53, HostIP: "127.0.0.2"}},
		Volumes:       []Volume{{Name: "data", Path: "/var/lib/web"}},
		Etc:           testEtc,
		Healthcheck:   &Healthcheck{HTTP: &HTTPProbe{Port: 80}},
	}
}

// Each bad input is refused naming what is wrong.
func TestValidateRefuses(t *testing.T) {
	if err := goodManifest().Validate(); err != nil {
		t.Fatalf("good manifest: %v", err)
	}
	cases := []struct {
		name string
		mod  func(m *Manifest)
		want string
	}{
		{"duplicate ports", func(m *Manifest) { m.Ports = append(m.Ports, Port{Host: 8080, Container: 81}) }, "host port 8080/tcp is published twice"},
		{"port on all and one address", func(m *Manifest) { m.Ports = append(m.Ports, Port{Host: 53, Container: 54}) }, "host port 53/tcp is published twice"},
		{"volume path up and out", func(m *Manifest) { m.Volumes[0].Path = "/../../etc" }, `volume "data": path "/../../etc": want a clean absolute path`},
		{"volume at the store", func(m *Manifest) { m.Volumes[0].Path = "/nix/store" }, "cannot be at or under /nix/store"},
		{"volume under the store", func(m *Manifest) { m.Volumes[0].Path = "/nix/store/x" }, "cannot be at or under /nix/store"},
		{"volume at /nix", func(m *Manifest) { m.Volumes[0].Path = "/nix" }, "cannot be at or under /nix/store"},
		{"volume at /", func(m *Manifest) { m.Volumes[0].Path = "/" }, "cannot be the root"},
		{"volume path twice", func(m *Manifest) { m.Volumes = append(m.Volumes, Volume{Name: "other", Path: "/var/lib/web"}) }, `volume path "/var/lib/web" twice`},
		{"env key with =", func(m *Manifest) { m.Env["B=C"] = "d" }, `environment variable name "B=C"`},
		{"empty env key", func(m *Manifest) { m.Env[""] = "d" }, `environment variable name ""`},
		{"huge env value", func(m *Manifest) { m.Env["BIG"] = strings.Repeat("x", MaxEnvEntry) }, "the limit of one variable"},
		{"etc outside the store", func(m *Manifest) { m.Etc = "/var/lib/nd-agent" }, `etc "/var/lib/nd-agent": want a clean path in /nix/store`},
		{"etc climbing out of the store", func(m *Manifest) { m.Etc = testEtc + "/../../../var/lib/nd-agent" }, "want a clean path in /nix/store"},
		{"etc is the store", func(m *Manifest) { m.Etc = "/nix/store" }, "want a clean path in /nix/store"},
		{"init outside the store", func(m *Manifest) { m.Init = "/usr" }, `init "/usr"`},
		{"relative workdir", func(m *Manifest) { m.WorkDir = "srv" }, `workdir "srv"`},
		{"bad host IP", func(m *Manifest) { m.Ports[0].HostIP = "localhost" }, `bad host IP "localhost"`},
		{"negative grace", func(m *Manifest) { m.StopGracePeriod = -1 }, "stopGracePeriod -1"},
		{"bad health port", func(m *Manifest) { m.Healthcheck.HTTP.Port = 0 }, "bad http port 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := goodManifest()
			c.mod(m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "app web: ") {
				t.Errorf("Validate() = %v, want an error about app web containing %q", err, c.want)
			}
		})
	}
}

func TestParseEnvFileLimits(t *testing.T) {
	if _, err := ParseEnvFile("big.env", []byte("A="+strings.Repeat("x", MaxEnvBytes))); err == nil || !strings.Contains(err.Error(), "big.env") || !strings.Contains(err.Error(), "the limit is 1048576") {
		t.Errorf("ParseEnvFile of an 1 MiB+ file = %v, want the limit named", err)
	}
	if _, err := ParseEnvFile("long.env", []byte("A="+strings.Repeat("x", MaxEnvEntry))); err == nil || !strings.Contains(err.Error(), "long.env line 1: variable A") {
		t.Errorf("ParseEnvFile of a 128 KiB variable = %v, want it named", err)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("A="+strings.Repeat("x", 100<<10)+"\n"+strings.Repeat("B=x\n", 120<<10)), 0o600)
	os.WriteFile(b, []byte(strings.Repeat("C=y\n", 200<<10)), 0o600)
	if _, err := ReadEnvFiles([]string{a, b}); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("ReadEnvFiles over 1 MiB together = %v", err)
	}
	os.WriteFile(b, []byte("# later wins\nB=y\nC=z\n"), 0o600)
	e, err := ReadEnvFiles([]string{a, b})
	if err != nil || e.Vars["B"] != "y" || e.Vars["C"] != "z" || len(e.Contents) != 2 {
		t.Errorf("ReadEnvFiles = %+v, %v; want B=y and C=z from the later file", e.Vars["B"], err)
	}
	if _, err := ReadEnvFiles([]string{filepath.Join(dir, "absent")}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("ReadEnvFiles of a missing file = %v, want it named", err)
	}
	if _, err := ParseEnvFile("s.env", []byte("K=secret value\n=nokey\n")); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("ParseEnvFile error %v must name the line, not the content", err)
	}
}

// FuzzParse: Parse never panics, and what it accepts holds every property
// the agent relies on when it reads, mounts and publishes.
func FuzzParse(f *testing.F) {
	good, _ := json.Marshal(goodManifest())
	f.Add(good)
	f.Add([]byte(`{"version":1,"name":"a","entrypoint":["x"],"volumes":[{"name":"etc","path":"/../../etc"}]}`))
	f.Add([]byte(`{"version":1,"name":"a","entrypoint":["x"],"volumes":[{"name":"s","path":"/nix/store/"}]}`))
	f.Add([]byte(`{"version":1,"name":"a","entrypoint":["x"],"env":{"B=C":"d"}}`))
	f.Add([]byte(`{"version":1,"name":"a","entrypoint":["x"],"etc":"/var/lib/nd-agent"}`))
	f.Add([]byte(`{"version":1,"name":"a","entrypoint":["x"],"etc":"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-etc/.."}`))
	f.Add([]byte(`{"version":1,"name":"a","entrypoint":["x"],"ports":[{"host":80,"container":80},{"host":80,"container":81,"hostIP":"::1"}]}`))
	f.Add([]byte(`{"version":1,"name":"x.new","entrypoint":[""]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		if !ValidName(m.Name) || len(m.Entrypoint) == 0 {
			t.Fatalf("accepted name %q entrypoint %q", m.Name, m.Entrypoint)
		}
		for _, v := range m.Volumes {
			if CheckVolumePath(v.Path) != nil || !ValidName(v.Name) {
				t.Fatalf("accepted volume %+v", v)
			}
		}
		for k := range m.Env {
			if CheckEnvKey(k) != nil {
				t.Fatalf("accepted env key %q", k)
			}
		}
		if m.Etc != "" && (CheckStorePath("etc", m.Etc) != nil || !strings.HasPrefix(m.Etc, StoreDir+"/") || strings.Contains(m.Etc, "/..")) {
			t.Fatalf("accepted etc %q", m.Etc)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
	})
}

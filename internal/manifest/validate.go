package manifest

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
)

// StoreDir is the Nix store every manifest's paths lie in.
const StoreDir = "/nix/store"

// storePathRE is a store path: /nix/store/<32 base-32 chars>-<name>, where
// name is what Nix allows; below it anything clean (checked by CheckStorePath).
var storePathRE = regexp.MustCompile(`^/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+(/.*)?$`)

// CheckStorePath checks that p is a clean absolute path inside a store path
// (the store path itself or something below it). what names the field.
func CheckStorePath(what, p string) error {
	if !storePathRE.MatchString(p) || path.Clean(p) != p || strings.ContainsRune(p, 0) {
		return fmt.Errorf("%s %q: want a clean path in %s/<hash>-<name>", what, p, StoreDir)
	}
	return nil
}

// StorePathOf returns the store path (/nix/store/<hash>-<name>) that p, as
// accepted by CheckStorePath, lies in.
func StorePathOf(p string) string {
	rest := strings.TrimPrefix(p, StoreDir+"/")
	first, _, _ := strings.Cut(rest, "/")
	return StoreDir + "/" + first
}

func (m *Manifest) validateRun() error {
	if len(m.Entrypoint) == 0 || m.Entrypoint[0] == "" {
		return fmt.Errorf("empty entrypoint")
	}
	for _, a := range m.Entrypoint {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("entrypoint argument with a NUL byte")
		}
	}
	for _, f := range []struct{ what, p string }{{"init", m.Init}, {"processesFile", m.ProcessesFile}, {"etc", m.Etc}} {
		if f.p == "" {
			continue
		}
		if err := CheckStorePath(f.what, f.p); err != nil {
			return err
		}
	}
	if m.WorkDir != "" && (!path.IsAbs(m.WorkDir) || path.Clean(m.WorkDir) != m.WorkDir) {
		return fmt.Errorf("workdir %q: want a clean absolute path", m.WorkDir)
	}
	if strings.ContainsAny(m.User, "\x00\n") {
		return fmt.Errorf("user %q: bad character", m.User)
	}
	for _, f := range m.EnvironmentFiles {
		if f == "" || strings.ContainsRune(f, 0) {
			return fmt.Errorf("environmentFiles: bad path %q", f)
		}
	}
	for k := range m.Labels {
		if k == "" || strings.ContainsRune(k, 0) {
			return fmt.Errorf("label %q: bad key", k)
		}
	}
	if m.StopGracePeriod < 0 {
		return fmt.Errorf("stopGracePeriod %d: want 0 or more seconds", m.StopGracePeriod)
	}
	return nil
}

// CheckEnvKey checks an environment variable's name: "B=C" would be passed
// as variable B.
func CheckEnvKey(k string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("environment variable name %q: want a non-empty name without '=' or NUL", k)
	}
	return nil
}

func (m *Manifest) validateEnv() error {
	size := 0
	for k, v := range m.Env {
		if err := CheckEnvKey(k); err != nil {
			return fmt.Errorf("env: %w", err)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("env %s: value with a NUL byte", k)
		}
		if len(k)+1+len(v) >= MaxEnvEntry {
			return fmt.Errorf("env %s: %d bytes, the limit of one variable is %d", k, len(k)+1+len(v), MaxEnvEntry-1)
		}
		size += len(k) + 1 + len(v)
	}
	if size > MaxEnvBytes {
		return fmt.Errorf("env: %d bytes in all, the limit is %d", size, MaxEnvBytes)
	}
	return nil
}

func (m *Manifest) validatePorts() error {
	for i, p := range m.Ports {
		if p.Host < 1 || p.Host > 65535 || p.Container < 1 || p.Container > 65535 {
			return fmt.Errorf("bad port %d:%d", p.Host, p.Container)
		}
		if p.Protocol != "" && p.Protocol != "tcp" && p.Protocol != "udp" {
			return fmt.Errorf("port %d: bad protocol %q", p.Host, p.Protocol)
		}
		if p.HostIP != "" {
			if _, err := netip.ParseAddr(p.HostIP); err != nil {
				return fmt.Errorf("port %d: bad host IP %q", p.Host, p.HostIP)
			}
		}
		// An empty host IP binds every address: it clashes with any
		// other binding of that port.
		for _, q := range m.Ports[:i] {
			if q.Host == p.Host && q.proto() == p.proto() && (q.HostIP == p.HostIP || q.HostIP == "" || p.HostIP == "") {
				return fmt.Errorf("host port %d/%s is published twice", p.Host, p.proto())
			}
		}
	}
	return nil
}

func (p Port) proto() string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}

// CheckVolumePath checks a volume's mount point: clean and absolute (no
// "/../../etc"), not / and not the store or below it, where the host's
// store is mounted.
func CheckVolumePath(p string) error {
	switch {
	case !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsRune(p, 0):
		return fmt.Errorf("path %q: want a clean absolute path (no '.', '..', '//' or trailing '/')", p)
	case p == "/":
		return fmt.Errorf("path %q: a volume cannot be the root", p)
	case p == "/nix" || p == StoreDir || strings.HasPrefix(p, StoreDir+"/"):
		return fmt.Errorf("path %q: a volume cannot be at or under %s (the store is mounted there)", p, StoreDir)
	}
	return nil
}

func (m *Manifest) validateVolumes() error {
	names, paths := map[string]bool{}, map[string]bool{}
	for _, v := range m.Volumes {
		if !ValidName(v.Name) {
			return fmt.Errorf("volume %q: bad name, want lowercase letters, digits, '_', '.', '-'", v.Name)
		}
		if err := CheckVolumePath(v.Path); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if names[v.Name] {
			return fmt.Errorf("volume %q twice", v.Name)
		}
		if paths[v.Path] {
			return fmt.Errorf("volume path %q twice", v.Path)
		}
		names[v.Name], paths[v.Path] = true, true
	}
	return nil
}

func (m *Manifest) validateHealth() error {
	h := m.Healthcheck
	if h == nil {
		return nil
	}
	if (len(h.Command) == 0) == (h.HTTP == nil) {
		return fmt.Errorf("healthcheck needs exactly one of command and http")
	}
	if h.HTTP != nil && (h.HTTP.Port < 1 || h.HTTP.Port > 65535) {
		return fmt.Errorf("healthcheck: bad http port %d", h.HTTP.Port)
	}
	if h.Interval < 0 || h.Timeout < 0 || h.Retries < 0 || h.StartPeriod < 0 {
		return fmt.Errorf("healthcheck: negative interval, timeout, retries or startPeriod")
	}
	return nil
}

package sshconn

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// hostConfig is what Dial needs to know about one destination, resolved the
// way ssh(1) resolves it: command line first, then -o options, then the user's
// config file (or -F), then the system file; for single-valued keys the first
// value obtained wins, IdentityFile accumulates.
type hostConfig struct {
	Alias    string // the name the user typed; Host patterns match this
	HostName string
	Port     int
	User     string

	IdentityFiles  []string // expanded paths, in the order they are tried
	IdentitiesOnly bool
	IdentityAgent  string // socket path, or "" for none

	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	StrictHostKeyChecking string // "yes", "accept-new" or "no"
	HashKnownHosts        bool
	HostKeyAlias          string

	ProxyJump []string // hops in order, nil for a direct connection

	ConnectTimeout      time.Duration
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
}

// addr is the host:port that is dialed.
func (h *hostConfig) addr() string {
	return net.JoinHostPort(h.HostName, strconv.Itoa(h.Port))
}

// knownHostsName is the address looked up in known_hosts: the HostName with
// the port (written "[host]:port" unless it is 22), or HostKeyAlias alone.
func (h *hostConfig) knownHostsName() string {
	if h.HostKeyAlias != "" {
		return net.JoinHostPort(h.HostKeyAlias, "22")
	}
	return h.addr()
}

// display names the destination in messages: the alias, and where it
// differs from what is dialed, the address too.
func (h *hostConfig) display() string {
	if h.Alias == h.HostName {
		if h.Port == 22 {
			return h.HostName
		}
		return h.addr()
	}
	return fmt.Sprintf("%s (%s)", h.Alias, h.addr())
}

// configSet is the ordered list of parsed config sources.
type configSet struct {
	files []*ssh_config.Config
}

// loadConfigs parses, in precedence order, the -o overrides, then either
// opts.ConfigFile or the user's and the system's config file. Missing default
// files are fine; a missing -F file is an error, as with ssh.
func loadConfigs(opts *Options, home string) (*configSet, error) {
	cs := &configSet{}
	if len(opts.Overrides) > 0 {
		keys := make([]string, 0, len(opts.Overrides))
		for k := range opts.Overrides {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b bytes.Buffer
		for _, k := range keys {
			v := opts.Overrides[k]
			if strings.ContainsAny(k, " \t\n=") || strings.Contains(v, "\n") {
				return nil, fmt.Errorf("invalid ssh option %q=%q", k, v)
			}
			fmt.Fprintf(&b, "%s %s\n", k, v)
		}
		c, err := ssh_config.Decode(&b)
		if err != nil {
			return nil, fmt.Errorf("parsing ssh options: %w", err)
		}
		cs.files = append(cs.files, c)
	}
	var files []string
	switch {
	case opts.ConfigFile == "none":
	case opts.ConfigFile != "":
		files = []string{expandTilde(opts.ConfigFile, home)}
	default:
		files = []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"}
	}
	for _, fn := range files {
		data, err := os.ReadFile(fn)
		if err != nil {
			if os.IsNotExist(err) && opts.ConfigFile == "" {
				continue
			}
			return nil, fmt.Errorf("reading ssh config: %w", err)
		}
		c, err := ssh_config.DecodeBytes(data)
		if err != nil {
			return nil, fmt.Errorf("parsing ssh config %s: %w", fn, err)
		}
		cs.files = append(cs.files, c)
	}
	return cs, nil
}

func (cs *configSet) get(alias, key string) string {
	for _, c := range cs.files {
		v, err := c.Get(alias, key)
		if err == nil && v != "" {
			return v
		}
	}
	return ""
}

func (cs *configSet) getAll(alias, key string) []string {
	var all []string
	for _, c := range cs.files {
		v, err := c.GetAll(alias, key)
		if err == nil {
			all = append(all, v...)
		}
	}
	return all
}

// target is the parsed command-line destination.
type target struct {
	user, host string
	port       int
}

// parseTarget splits "[user@]host[:port]", "[user@][v6addr]:port" or
// "ssh://[user@]host[:port]".
func parseTarget(s string) (target, error) {
	var t target
	if s == "" {
		return t, fmt.Errorf("empty ssh destination")
	}
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil {
			return t, fmt.Errorf("parsing ssh destination %q: %w", s, err)
		}
		if u.Path != "" && u.Path != "/" {
			return t, fmt.Errorf("ssh destination %q must not have a path", s)
		}
		t.user = u.User.Username()
		t.host = u.Hostname()
		if p := u.Port(); p != "" {
			n, err := parsePort(p)
			if err != nil {
				return t, fmt.Errorf("ssh destination %q: %w", s, err)
			}
			t.port = n
		}
		if t.host == "" {
			return t, fmt.Errorf("ssh destination %q has no host", s)
		}
		return t, nil
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		t.user, s = s[:i], s[i+1:]
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := parsePort(p)
		if err != nil {
			return t, fmt.Errorf("ssh destination %q: %w", s, err)
		}
		host, t.port = h, n
	} else if strings.Count(s, ":") == 1 {
		return t, fmt.Errorf("ssh destination %q: bad port", s)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return t, fmt.Errorf("ssh destination %q has no host", s)
	}
	t.host = host
	return t, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

// resolveEnv is what resolution needs from the local machine.
type resolveEnv struct {
	home      string
	localUser string
	authSock  string // $SSH_AUTH_SOCK
}

func newResolveEnv(opts *Options) (resolveEnv, error) {
	env := resolveEnv{home: opts.HomeDir, authSock: os.Getenv("SSH_AUTH_SOCK")}
	u, uerr := user.Current()
	if env.home == "" {
		env.home = os.Getenv("HOME")
		if env.home == "" && uerr == nil {
			env.home = u.HomeDir
		}
		if env.home == "" {
			return env, fmt.Errorf("finding home directory: $HOME is not set")
		}
	}
	env.localUser = os.Getenv("USER")
	if env.localUser == "" && uerr == nil {
		env.localUser = u.Username
	}
	if env.localUser == "" {
		return env, fmt.Errorf("finding local user name: $USER is not set")
	}
	return env, nil
}

// cmdline is what the command line fixes regardless of the config files.
type cmdline struct {
	user          string
	port          int
	identityFiles []string
}

// resolve computes the hostConfig for destination t.
func (cs *configSet) resolve(t target, cl cmdline, env resolveEnv) (*hostConfig, error) {
	alias := t.host
	h := &hostConfig{Alias: alias}

	h.HostName = alias
	if v := cs.get(alias, "HostName"); v != "" {
		h.HostName = expandTokens(v, map[byte]string{'h': alias})
	}

	switch {
	case cl.port != 0:
		h.Port = cl.port
	case t.port != 0:
		h.Port = t.port
	case cs.get(alias, "Port") != "":
		p, err := parsePort(cs.get(alias, "Port"))
		if err != nil {
			return nil, fmt.Errorf("ssh config for %s: Port: %w", alias, err)
		}
		h.Port = p
	default:
		h.Port = 22
	}

	switch {
	case cl.user != "":
		h.User = cl.user
	case t.user != "":
		h.User = t.user
	case cs.get(alias, "User") != "":
		h.User = cs.get(alias, "User")
	default:
		h.User = env.localUser
	}

	tokens := map[byte]string{
		'd': env.home,
		'u': env.localUser,
		'h': h.HostName,
		'n': alias,
		'p': strconv.Itoa(h.Port),
		'r': h.User,
	}
	if hn, err := os.Hostname(); err == nil {
		tokens['L'] = strings.SplitN(hn, ".", 2)[0]
		tokens['l'] = hn
	}
	path := func(p string) string { return expandTilde(expandTokens(p, tokens), env.home) }

	ids := append([]string(nil), cl.identityFiles...)
	ids = append(ids, cs.getAll(alias, "IdentityFile")...)
	explicit := len(ids) > 0
	for _, id := range ids {
		if strings.EqualFold(id, "none") {
			continue
		}
		h.IdentityFiles = appendUnique(h.IdentityFiles, path(id))
	}
	if !explicit {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			h.IdentityFiles = append(h.IdentityFiles, filepath.Join(env.home, ".ssh", n))
		}
	}
	h.IdentitiesOnly = isYes(cs.get(alias, "IdentitiesOnly"))

	switch v := cs.get(alias, "IdentityAgent"); {
	case v == "":
		h.IdentityAgent = env.authSock
	case strings.EqualFold(v, "none"):
	case v == "SSH_AUTH_SOCK":
		h.IdentityAgent = env.authSock
	case strings.HasPrefix(v, "$"):
		h.IdentityAgent = os.Getenv(v[1:])
	default:
		h.IdentityAgent = path(v)
	}

	// Only the first UserKnownHostsFile line counts; it may name several files.
	if v := cs.get(alias, "UserKnownHostsFile"); v != "" {
		for _, f := range strings.Fields(v) {
			h.UserKnownHostsFiles = append(h.UserKnownHostsFiles, path(f))
		}
	} else {
		h.UserKnownHostsFiles = []string{
			filepath.Join(env.home, ".ssh", "known_hosts"),
			filepath.Join(env.home, ".ssh", "known_hosts2"),
		}
	}
	if v := cs.get(alias, "GlobalKnownHostsFile"); v != "" {
		for _, f := range strings.Fields(v) {
			h.GlobalKnownHostsFiles = append(h.GlobalKnownHostsFiles, path(f))
		}
	} else {
		h.GlobalKnownHostsFiles = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	}

	switch v := strings.ToLower(cs.get(alias, "StrictHostKeyChecking")); v {
	case "", "yes", "ask":
		// ask needs a terminal prompt nd-push does not offer: treat as yes.
		h.StrictHostKeyChecking = "yes"
	case "accept-new":
		h.StrictHostKeyChecking = "accept-new"
	case "no", "off":
		h.StrictHostKeyChecking = "no"
	default:
		return nil, fmt.Errorf("ssh config for %s: bad StrictHostKeyChecking %q", alias, v)
	}
	h.HashKnownHosts = isYes(cs.get(alias, "HashKnownHosts"))
	h.HostKeyAlias = cs.get(alias, "HostKeyAlias")

	if v := cs.get(alias, "ProxyCommand"); v != "" && !strings.EqualFold(v, "none") {
		return nil, fmt.Errorf("ssh config for %s: ProxyCommand is not supported by nd; use ProxyJump", alias)
	}
	if v := cs.get(alias, "ProxyJump"); v != "" && !strings.EqualFold(v, "none") {
		for _, hop := range strings.Split(v, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				h.ProxyJump = append(h.ProxyJump, hop)
			}
		}
	}

	var err error
	if h.ConnectTimeout, err = seconds(cs.get(alias, "ConnectTimeout")); err != nil {
		return nil, fmt.Errorf("ssh config for %s: ConnectTimeout: %w", alias, err)
	}
	if h.ServerAliveInterval, err = seconds(cs.get(alias, "ServerAliveInterval")); err != nil {
		return nil, fmt.Errorf("ssh config for %s: ServerAliveInterval: %w", alias, err)
	}
	h.ServerAliveCountMax = 3
	if v := cs.get(alias, "ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("ssh config for %s: bad ServerAliveCountMax %q", alias, v)
		}
		h.ServerAliveCountMax = n
	}
	return h, nil
}

// seconds parses an OpenSSH time value: plain seconds or a sequence like
// "1m30s" (units s, m, h, d, w).
func seconds(v string) (time.Duration, error) {
	if v == "" || v == "none" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative time %q", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	num := ""
	for _, r := range strings.ToLower(v) {
		if r >= '0' && r <= '9' {
			num += string(r)
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return 0, fmt.Errorf("bad time %q", v)
		}
		unit := map[rune]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[r]
		if unit == 0 {
			return 0, fmt.Errorf("bad time %q", v)
		}
		total += time.Duration(n) * unit
		num = ""
	}
	if num != "" {
		n, _ := strconv.Atoi(num)
		total += time.Duration(n) * time.Second
	}
	return total, nil
}

// expandTokens replaces ssh_config %-tokens; unknown tokens stay as written.
func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		if v, ok := tokens[s[i]]; ok {
			b.WriteString(v)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(s[i])
	}
	return b.String()
}

func expandTilde(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

func isYes(v string) bool {
	return strings.EqualFold(v, "yes") || strings.EqualFold(v, "true")
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

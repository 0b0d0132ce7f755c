package supervise

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/nd-project/nd/internal/manifest"
)

// ProcessesVersion is the Processes file format this package reads.
const ProcessesVersion = 1

// DefaultStopGracePeriod is used when the file gives none.
const DefaultStopGracePeriod = 10 * time.Second

// StartRetries is how many times a process that fails to start is retried
// before it is FATAL (supervisord's startretries default).
const StartRetries = 3

// ResetAfter is how long a process must run before its restart backoff
// starts again from zero.
const ResetAfter = 10 * time.Second

// Load reads and checks a Processes file.
func Load(path string) (*manifest.Processes, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading processes file: %w", err)
	}
	var p manifest.Processes
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decoding processes file %s: %w", path, err)
	}
	if err := Validate(&p); err != nil {
		return nil, fmt.Errorf("processes file %s: %w", path, err)
	}
	return &p, nil
}

// Validate checks what the supervisor relies on, without looking at users or
// executables (Run resolves those before starting anything).
func Validate(p *manifest.Processes) error {
	if p.Version != ProcessesVersion {
		return fmt.Errorf("version %d, this nd-init reads version %d", p.Version, ProcessesVersion)
	}
	if p.StopGracePeriod < 0 {
		return fmt.Errorf("negative stopGracePeriod %d", p.StopGracePeriod)
	}
	seen := map[string]bool{}
	for i, pr := range p.Processes {
		if pr.Name == "" || strings.ContainsAny(pr.Name, " \t\r\n|") {
			return fmt.Errorf("process %d: bad name %q", i, pr.Name)
		}
		if seen[pr.Name] {
			return fmt.Errorf("process %q twice", pr.Name)
		}
		seen[pr.Name] = true
		words, err := Split(pr.Command)
		if err != nil {
			return fmt.Errorf("process %s: command %q: %w", pr.Name, pr.Command, err)
		}
		if len(words) == 0 || words[0] == "" {
			return fmt.Errorf("process %s: empty command", pr.Name)
		}
		switch pr.AutoRestart {
		case "", "true", "false", "unexpected":
		default:
			return fmt.Errorf("process %s: autorestart %q: want true, false or unexpected", pr.Name, pr.AutoRestart)
		}
		if pr.StartSecs < 0 {
			return fmt.Errorf("process %s: negative startsecs %d", pr.Name, pr.StartSecs)
		}
		for k := range pr.Environment {
			if err := manifest.CheckEnvKey(k); err != nil {
				return fmt.Errorf("process %s: %w", pr.Name, err)
			}
		}
	}
	return nil
}

// prepared is a process ready to spawn: words split, user resolved,
// environment built.
type prepared struct {
	manifest.Process
	argv []string
	env  []string
	path string // the environment's PATH, for finding argv[0]
	cred *syscall.Credential
}

func prepare(pr manifest.Process, opts *Options) (*prepared, error) {
	argv, err := Split(pr.Command)
	if err != nil {
		return nil, fmt.Errorf("process %s: command: %w", pr.Name, err)
	}
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, kv := range opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	p := &prepared{Process: pr, argv: argv}
	if pr.User != "" {
		u, err := LookupUser(pr.User, opts.PasswdFile, opts.GroupFile)
		if err != nil {
			return nil, fmt.Errorf("process %s: %w", pr.Name, err)
		}
		set("HOME", u.Home)
		set("USER", u.Name)
		set("LOGNAME", u.Name)
		// Switch only when needed: a container started as a non-root user
		// may name that same user and cannot call setgroups.
		if os.Geteuid() == 0 || int(u.UID) != os.Geteuid() || int(u.GID) != os.Getegid() {
			p.cred = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}
		}
	}
	// The process's own environment wins over everything derived.
	for k, v := range pr.Environment {
		set(k, v)
	}
	for _, k := range order {
		p.env = append(p.env, k+"="+env[k])
	}
	p.path = env["PATH"]
	return p, nil
}

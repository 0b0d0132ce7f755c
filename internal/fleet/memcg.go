package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MemoryControllerDir is where this machine mounts cgroup v1's memory
// controller (FLEET-NOTES: the unified hierarchy has no controllers here).
const MemoryControllerDir = "/sys/fs/cgroup/memory"

// MemoryCgroup is a memory cgroup (v1) that confines what a bookworm
// droplet runs in it, with its children: a small droplet's RAM, for the
// agent and the Nix processes it starts. Processes enter it through Wrap.
type MemoryCgroup struct {
	Dir   string
	Limit int64
}

// NewMemoryCgroup makes a cgroup limited to limit bytes of memory (page
// cache included, as on a real droplet; swap is not counted, and this
// machine has none to fall back on). Remove it when done.
func NewMemoryCgroup(name string, limit int64) (*MemoryCgroup, error) {
	b := make([]byte, 4)
	rand.Read(b)
	dir := filepath.Join(MemoryControllerDir, "nd-fleet-"+name+"-"+hex.EncodeToString(b))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making memory cgroup for %s: %w", name, err)
	}
	cg := &MemoryCgroup{Dir: dir, Limit: limit}
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("limiting memory cgroup %s: %w", dir, err)
	}
	return cg, nil
}

// Wrap returns argv run inside the cgroup: a shell moves itself in, then
// execs argv, so that nothing of argv ever runs outside it.
func (c *MemoryCgroup) Wrap(argv ...string) []string {
	return append([]string{"/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(c.Dir, "cgroup.procs")}, argv...)
}

// Peak is the most memory the cgroup's processes used at once (RSS and
// page cache, memory.max_usage_in_bytes).
func (c *MemoryCgroup) Peak() (int64, error) { return c.read("memory.max_usage_in_bytes") }

// OOMKills is how many times the kernel's OOM killer acted on the cgroup
// (memory.oom_control's oom_kill; 0 where the kernel does not count).
func (c *MemoryCgroup) OOMKills() int64 {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "memory.oom_control"))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "oom_kill" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func (c *MemoryCgroup) read(file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, file))
	if err != nil {
		return 0, fmt.Errorf("reading %s of %s: %w", file, c.Dir, err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Remove kills what still runs in the cgroup (all of it was started in it
// by its owner) and removes it.
func (c *MemoryCgroup) Remove() error {
	for i := 0; ; i++ {
		b, _ := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
		pids := strings.Fields(string(b))
		if len(pids) == 0 {
			break
		}
		if i > 100 {
			return fmt.Errorf("removing memory cgroup %s: processes %v do not end", c.Dir, pids)
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.Remove(c.Dir); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing memory cgroup %s: %w", c.Dir, err)
	}
	return nil
}

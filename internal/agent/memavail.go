package agent

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryAvailable is how much memory this process may still take, as far
// as it can tell: /proc/meminfo's MemAvailable, lowered to what its memory
// cgroup (v1 or v2) leaves below its limit. 0: unknown.
func memoryAvailable() int64 {
	avail := meminfoAvailable()
	if left := cgroupLeft(); left > 0 && (avail == 0 || left < avail) {
		avail = left
	}
	return avail
}

func meminfoAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// cgroupLeft is limit minus usage of this process's memory cgroup (page
// cache included, so an underestimate), 0 if there is no limit or it
// cannot be read.
func cgroupLeft() int64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		var limit, usage int64
		switch {
		case strings.Contains(","+f[1]+",", ",memory,"): // v1
			dir := filepath.Join("/sys/fs/cgroup/memory", f[2])
			limit, usage = readInt(filepath.Join(dir, "memory.limit_in_bytes")), readInt(filepath.Join(dir, "memory.usage_in_bytes"))
		case f[0] == "0" && f[1] == "": // v2
			dir := filepath.Join("/sys/fs/cgroup", f[2])
			limit, usage = readInt(filepath.Join(dir, "memory.max")), readInt(filepath.Join(dir, "memory.current"))
		}
		// v1's "no limit" is a huge number; v2's is "max" (read as 0).
		if limit > 0 && limit < 1<<50 && usage > 0 {
			return max(limit-usage, 1)
		}
	}
	return 0
}

func readInt(p string) int64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

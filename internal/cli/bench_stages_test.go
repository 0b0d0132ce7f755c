package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/fleet"
)

// The stage breakdown of one deploy, for the benchmarks (docs/BENCHMARKS.md).
// Its sources: nd-push -v's "laptop stages" line (closure.Stages), the
// agent's log lines with their timestamps ("imported" with its import
// stages, "image received", "image pulled", "starting new container",
// "container started, waiting until ready", "container ready",
// "deployed"), and the CPU the droplet's processes used, from /proc.

// procCPU is the CPU time a process and its reaped children used so far
// (/proc/PID/stat utime, stime, cutime, cstime).
type procCPU struct{ self, children time.Duration }

func readProcCPU(pid int) procCPU {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procCPU{}
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return procCPU{}
	}
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * time.Second / 100 // USER_HZ
	}
	// Fields after the command: state is f[0], utime f[11] ... cstime f[14].
	return procCPU{self: tick(11) + tick(12), children: tick(13) + tick(14)}
}

// procStatusKB is a "Vm..." line of /proc/PID/status, in bytes.
func procStatus(pid int, key string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

// dropletCPU samples the CPU of a droplet's agent, sshd and dockerd.
type dropletCPU map[string]procCPU

func sampleDroplet(d *fleet.Droplet) dropletCPU {
	m := dropletCPU{}
	for _, n := range []string{"nd-agent", "sshd", "dockerd"} {
		if pid, err := d.PID(n); err == nil {
			m[n] = readProcCPU(pid)
		}
	}
	return m
}

func (m dropletCPU) since(o dropletCPU) dropletCPU {
	r := dropletCPU{}
	for k, v := range m {
		r[k] = procCPU{self: v.self - o[k].self, children: v.children - o[k].children}
	}
	return r
}

// agentLine is one line of the agent's log.
type agentLine struct {
	at  time.Time
	msg string
	kv  map[string]string
}

var hclogRE = regexp.MustCompile(`^(\S+) \[\w+\] +nd-agent(?:\.\w+)*: (.*?)(?:: (\w.*))?$`)
var kvRE = regexp.MustCompile(`(\w[\w ]*?)=("(?:[^"\\]|\\.)*"|\S*)`)

// agentLogFrom reads the agent's log lines written after offset.
func agentLogFrom(d *fleet.Droplet, offset int64) []agentLine {
	b, _ := os.ReadFile(d.LogFile("nd-agent"))
	if offset > int64(len(b)) {
		offset = 0
	}
	var out []agentLine
	sc := bufio.NewScanner(bytes.NewReader(b[offset:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := hclogRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1])
		if err != nil {
			continue
		}
		l := agentLine{at: at, msg: m[2], kv: map[string]string{}}
		for _, kv := range kvRE.FindAllStringSubmatch(m[3], -1) {
			l.kv[strings.TrimSpace(kv[1])] = strings.Trim(kv[2], `"`)
		}
		out = append(out, l)
	}
	return out
}

func logSize(d *fleet.Droplet) int64 {
	st, err := os.Stat(d.LogFile("nd-agent"))
	if err != nil {
		return 0
	}
	return st.Size()
}

// stageRun is what one deploy leaves for its breakdown.
type stageRun struct {
	start, end time.Time
	wire       int64         // compressed bytes sent
	laptopCPU  time.Duration // nd-push and its children, if it ran as its own process
	laptop     map[string]float64
	agent      []agentLine
	cpu        dropletCPU // the droplet's processes, during the deploy
}

var laptopStagesRE = regexp.MustCompile(`laptop stages: (.*)`)

// parseLaptopStages reads nd-push -v's "laptop stages: k=v ..." line.
func parseLaptopStages(out string) map[string]float64 {
	m := map[string]float64{}
	if sm := laptopStagesRE.FindStringSubmatch(out); sm != nil {
		for _, kv := range strings.Fields(sm[1]) {
			k, v, _ := strings.Cut(kv, "=")
			m[k], _ = strconv.ParseFloat(v, 64)
		}
	}
	return m
}

func (r stageRun) find(msg string) (agentLine, bool) {
	for _, l := range r.agent {
		if l.msg == msg {
			return l, true
		}
	}
	return agentLine{}, false
}

func (l agentLine) sec(k string) float64 {
	v, _ := strconv.ParseFloat(l.kv[k], 64)
	return v
}

// stageTable prints the breakdown: wall seconds of each stage (where it
// starts after the command did), CPU seconds where measured, and how the
// transfer's stages overlap.
func stageTable(title string, r stageRun, linkRate float64) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	at := func(t time.Time) float64 { return t.Sub(r.start).Seconds() }
	total := r.end.Sub(r.start).Seconds()
	fmt.Fprintf(&sb, "\nstage breakdown: %s (total %.2f s; link limit for its %s: %.2f s)\n", title, total, humanBytes(r.wire), float64(r.wire)/linkRate)
	fmt.Fprintln(tw, "side\tstage\tstarts at s\twall s\tCPU s\tnote")
	row := func(side, stage string, start, wall float64, cpu string, note string) {
		st := "-"
		if start >= 0 {
			st = fmt.Sprintf("%.2f", start)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%s\t%s\n", side, stage, st, wall, cpu, note)
	}
	cpu := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	lp := r.laptop
	if len(lp) > 0 {
		row("laptop", "closure query (nix-store -qR)", -1, lp["closure_s"], "", "")
		row("laptop", "missing paths (one round trip)", -1, lp["missing_s"], "", "")
		row("laptop", "NAR sizes (nix-store -q --size)", -1, lp["sizes_s"], "", "")
		row("laptop", "export (nix-store --export)", -1, lp["export_s"], fmt.Sprintf("%.2f", lp["export_cpu_s"]), "overlaps compression and the wire")
		row("laptop", "send (export | zstd | ssh, until the agent's reply)", -1, lp["send_s"], "", "")
	}
	if r.laptopCPU > 0 {
		row("laptop", "nd-push and children, whole command", 0, total, cpu(r.laptopCPU), "eval, export, zstd, ssh")
	}
	if l, ok := r.find("imported"); ok {
		imp := l.sec("import_s")
		start := at(l.at) - imp
		row("wire", "agent waiting for the link", start, l.sec("wire_wait_s"), "", "")
		row("agent", "decompression", start, l.sec("decompress_s"), "", "")
		row("agent", "validation (export/NAR parse)", start, l.sec("validate_s"), "", "with nix-store --import: and its writes")
		row("agent", "restore (files written)", start, l.sec("write_s"), "", "")
		row("agent", "NAR hashing", start, l.sec("hash_s"), "", "")
		row("agent", "registration (nix-store --load-db)", start, l.sec("register_s"), l.kv["nix_cpu_s"], "beside the restore; CPU: the agent's Nix children")
		row("agent", "GC roots", start, l.sec("roots_s"), "", "")
		row("agent", "import, all of it", start, imp, l.kv["agent_cpu_s"], "CPU: the agent process")
		busy := imp - l.sec("wire_wait_s")
		link := float64(r.wire) / linkRate
		if lp["send_s"] > 0 {
			fmt.Fprintf(tw, "overlap\tlink time %.2f s + agent busy %.2f s + export CPU %.2f s in a %.2f s send\t\t\t\t%.2fx (1 = one after another would be ≥ %.2f s)\n",
				link, busy, lp["export_cpu_s"], lp["send_s"], (link+busy+lp["export_cpu_s"])/lp["send_s"], link+busy+lp["export_cpu_s"])
		}
	}
	if l, ok := r.find("image received"); ok {
		rs := l.sec("receive_s")
		start := at(l.at) - rs
		row("wire", "agent waiting for the link", start, l.sec("wire_wait_s"), "", "")
		row("agent", "decompression", start, l.sec("decompress_s"), "", "")
		row("agent", "layers received and checked", start, rs, l.kv["agent_cpu_s"], "CPU: the agent process")
	}
	if l, ok := r.find("image pulled"); ok && l.kv["pull_s"] != "" {
		row("agent", "docker pull from the agent's registry", at(l.at)-l.sec("pull_s"), l.sec("pull_s"), "", "")
	}
	var prev time.Time
	if l, ok := r.find("imported"); ok {
		prev = l.at
	} else if l, ok := r.find("image pulled"); ok {
		prev = l.at
	}
	if l, ok := r.find("starting new container"); ok {
		if !prev.IsZero() {
			row("agent", "release: intent, roots, image, container created", at(prev), l.at.Sub(prev).Seconds(), "", "")
		}
		prev = l.at
	} else if l, ok := r.find("starting new container beside the old one"); ok {
		if !prev.IsZero() {
			row("agent", "release: intent, roots, image, container created", at(prev), l.at.Sub(prev).Seconds(), "", "")
		}
		prev = l.at
	}
	if l, ok := r.find("container started, waiting until ready"); ok && !prev.IsZero() {
		row("agent", "container start", at(prev), l.at.Sub(prev).Seconds(), "", "")
		prev = l.at
	}
	if l, ok := r.find("container ready"); ok {
		row("agent", "readiness", at(l.at)-l.sec("waited_s"), l.sec("waited_s"), "", "")
		prev = l.at
	}
	if l, ok := r.find("deployed"); ok && !prev.IsZero() {
		row("agent", "switch: restart policy, names, routes", at(prev), l.at.Sub(prev).Seconds(), "", "")
		row("agent+laptop", "after the switch: commit; reply (the old container drains after it)", at(l.at), r.end.Sub(l.at).Seconds(), "", "")
	}
	for _, n := range []string{"nd-agent", "sshd", "dockerd"} {
		if c, ok := r.cpu[n]; ok {
			row("droplet", n+" CPU during the deploy", 0, total, fmt.Sprintf("%.2f", (c.self+c.children).Seconds()), fmt.Sprintf("own %.2f, reaped children %.2f", c.self.Seconds(), c.children.Seconds()))
		}
	}
	tw.Flush()
	return sb.String()
}

// linkBytesPerSec is the benchmarks' link: 200 Mbit/s, measured 25 MB/s.
const linkBytesPerSec = 25e6

// startStages notes what a deploy's breakdown needs before it starts.
func startStages(d *fleet.Droplet) (int64, dropletCPU) {
	return logSize(d), sampleDroplet(d)
}

// endStages completes a run: the agent's log since offset, and the CPU the
// droplet's processes used since cpu0 (sshd's connection process is reaped
// shortly after the client leaves).
func endStages(tb testing.TB, d *fleet.Droplet, r *stageRun, offset int64, cpu0 dropletCPU) {
	time.Sleep(200 * time.Millisecond)
	r.agent = agentLogFrom(d, offset)
	r.cpu = sampleDroplet(d).since(cpu0)
}

// parseHumanBytes reads humanBytes' output back (to its precision).
func parseHumanBytes(s string) int64 {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[f[1]]
	return int64(v * mult)
}

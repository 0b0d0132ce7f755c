package supervise

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Readiness by listening: a long-running process that listens on a TCP or
// Unix stream socket counts as up for the ready file (Options.ReadyFile) as
// soon as it listens, rather than after its startsecs. It is what "ready"
// means for a server, and it is seen the moment it happens. The startsecs
// rule itself is unchanged: a process that exits within startsecs, having
// listened or not, has still failed its start.

// listenPoll is how often the supervisor looks for listening sockets while
// a process it waits for has neither listened nor stayed up for its
// startsecs.
const listenPoll = 20 * time.Millisecond

// pollListening looks once for listening sockets of the processes the ready
// file waits for, and looks again after listenPoll while any is left.
func (s *supervisor) pollListening() {
	if s.ready || s.opts.ReadyFile == "" || !s.servicesStarted || s.stopping {
		return
	}
	// A process between restarts (pid 0) is looked for again once it runs.
	var groups []int
	for _, p := range s.services {
		if !p.started && !p.listened && p.pid != 0 {
			groups = append(groups, p.pgid)
		}
	}
	if len(groups) > 0 {
		found := listeningGroups("/proc", groups)
		for _, p := range s.services {
			if !p.started && !p.listened && p.pid != 0 && found[p.pgid] {
				p.listened = true
				s.logf("%s listens", p.Name)
			}
		}
		s.checkReady()
	}
	if !s.ready {
		time.AfterFunc(listenPoll, func() { s.post(s.pollListening) })
	}
}

// listeningGroups reports which of the process groups groups have a
// process holding a listening TCP (IPv4 or IPv6) or Unix stream socket of
// this network namespace. What cannot be read (another user's process, a
// process gone meanwhile) counts as not listening.
func listeningGroups(proc string, groups []int) map[int]bool {
	inodes := listeningInodes(proc)
	found := map[int]bool{}
	if len(inodes) == 0 {
		return found
	}
	want := map[int]bool{}
	for _, g := range groups {
		want[g] = true
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return found
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		g := processGroup(proc, pid)
		if !want[g] || found[g] {
			continue
		}
		if holdsAny(filepath.Join(proc, e.Name(), "fd"), inodes) {
			found[g] = true
		}
	}
	return found
}

// listeningInodes returns the inodes of the listening sockets in
// /proc/net/tcp, tcp6 and unix.
func listeningInodes(proc string) map[string]bool {
	inodes := map[string]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		// sl local remote st tx:rx tr:when retrnsmt uid timeout inode
		eachRow(filepath.Join(proc, "net", f), func(fields []string) {
			if len(fields) > 9 && fields[3] == "0A" { // TCP_LISTEN
				inodes[fields[9]] = true
			}
		})
	}
	// Num RefCount Protocol Flags Type St Inode Path
	eachRow(filepath.Join(proc, "net", "unix"), func(fields []string) {
		const acceptCon = 0x10000 // __SO_ACCEPTCON: listen(2) was called
		if len(fields) < 7 {
			return
		}
		if flags, err := strconv.ParseUint(fields[3], 16, 32); err == nil && flags&acceptCon != 0 {
			inodes[fields[6]] = true
		}
	})
	return inodes
}

// eachRow calls f with the fields of every line of file but the header.
func eachRow(file string, f func([]string)) {
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for first := true; sc.Scan(); first = false {
		if !first {
			if fields := strings.Fields(sc.Text()); len(fields) > 0 {
				f(fields)
			}
		}
	}
}

// processGroup returns pid's process group from /proc/PID/stat, or -1.
func processGroup(proc string, pid int) int {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 3 {
		return -1
	}
	g, err := strconv.Atoi(fields[2])
	if err != nil {
		return -1
	}
	return g
}

// holdsAny reports whether one of the descriptors in fdDir is a socket
// whose inode is in inodes.
func holdsAny(fdDir string, inodes map[string]bool) bool {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			return true
		}
	}
	return false
}

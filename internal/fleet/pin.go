package fleet

import (
	"fmt"
	"os"
	"syscall"
)

// Namespace IDs ("net:[INODE]") are reused by the kernel once a namespace is
// freed, so comparing a process's namespace with a recorded ID is only safe
// while something holds that namespace alive. pinned holds open files on the
// droplet's namespaces for as long as teardown or a check compares IDs.
type pinned struct {
	netID, mntID string
	files        []*os.File
}

func (p *pinned) release() {
	for _, f := range p.files {
		f.Close()
	}
	p.files = nil
}

// pin opens the droplet's network namespace (through /run/netns/NAME, or the
// holder) and its mount namespace (through the holder, if the holder is still
// the recorded process). An ID that cannot be pinned is left empty: then only
// recorded processes and their descendants identify the droplet's processes.
func pin(name string, holder proc) *pinned {
	p := &pinned{}
	if f, err := os.Open("/run/netns/" + netnsName(name)); err == nil {
		p.files = append(p.files, f)
		p.netID = "net:" + inodeOf(f)
	} else if f := openHolderNS(holder, "net"); f != nil {
		p.files = append(p.files, f)
		p.netID = "net:" + inodeOf(f)
	}
	if f := openHolderNS(holder, "mnt"); f != nil {
		p.files = append(p.files, f)
		p.mntID = "mnt:" + inodeOf(f)
	}
	return p
}

// openHolderNS opens /proc/HOLDER/ns/KIND if holder is (before and after the
// open) the recorded process, so a recycled PID never lends its namespace.
func openHolderNS(holder proc, kind string) *os.File {
	if !holder.alive() {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", holder.PID, kind))
	if err != nil {
		return nil
	}
	if !holder.alive() {
		f.Close()
		return nil
	}
	return f
}

func inodeOf(f *os.File) string {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return "[?]"
	}
	return fmt.Sprintf("[%d]", st.Ino)
}

package fleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// diskSize is the apparent size of a droplet's disk (DigitalOcean's
// smallest droplet has 25 GB). The image is sparse: it takes what the
// droplet writes.
const diskSize = "25G"

// A droplet's data directory is its own disk: an ext4 file system with a
// journal, in a sparse image file beside the directory (DataRoot/NAME.disk)
// on a loop device. Droplets' disks have journals, and this machine's root
// file system does not. On ext4 without a journal every inode allocation
// first skips the inodes freed in the last dirty_expire interval
// (fs/ext4/ialloc.c, recently_deleted), which made each of the 14,000
// files a Nix substitution creates cost a scan past the lock files it had
// just deleted: 20% of the machine's CPU samples, and seconds of kernel
// time that no droplet of a user pays.
//
// The disk is mounted in the machine's mount namespace only while the
// droplet is prepared (its files written) and its holder starts (the
// holder's private namespace gets a copy); then the machine's copy goes
// (releaseDisk), and the file system and its loop device (autoclear) go
// away with the droplet's last process.
func diskImage(name string) string { return dataDir(name) + diskSuffix }

const diskSuffix = ".disk"

// makeDisk creates droplet name's disk and mounts it at its data directory.
func makeDisk(name string) error {
	dd, img := dataDir(name), diskImage(name)
	if err := os.MkdirAll(dd, 0o755); err != nil {
		return err
	}
	os.Remove(img)
	steps := [][]string{
		{"truncate", "-s", diskSize, img},
		// Lazy inode tables and journal: the sparse image reads as zeros,
		// and noinit_itable keeps ext4lazyinit from writing them anyway.
		{"mkfs.ext4", "-q", "-F", "-L", "nd-fleet", "-E", "lazy_itable_init=1,lazy_journal_init=1", img},
		{"mount", "-o", "loop,noinit_itable", img, dd},
	}
	for _, argv := range steps {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("making the disk of droplet %s: %s: %w: %s", name, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	// Direct I/O to the image: the droplet's page cache is the disk's own,
	// not a second copy of every page in the image file's.
	if dev := mountSource(dd); strings.HasPrefix(dev, "/dev/loop") {
		runQuiet("losetup", "--direct-io=on", dev)
	}
	return nil
}

// releaseDisk unmounts droplet name's disk from the machine's mount
// namespace (the holder's copy stays), lazily when busy. A droplet whose
// disk is not mounted here has nothing to release.
func releaseDisk(name string) error {
	dd := dataDir(name)
	if !isMountPoint(dd) {
		return nil
	}
	if out, err := exec.Command("umount", dd).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command("umount", "-l", dd).CombinedOutput(); err2 != nil {
			return fmt.Errorf("unmounting the disk of droplet %s: %w: %s; %s", name, err2, strings.TrimSpace(string(out)), strings.TrimSpace(string(out2)))
		}
	}
	return nil
}

// removeDisk deletes droplet name's disk image; blocks still in use (the
// file system of a namespace not yet freed) are freed with it.
func removeDisk(name string) error {
	if err := os.Remove(diskImage(name)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing the disk of droplet %s: %w", name, err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point in our namespace.
func isMountPoint(dir string) bool {
	return mountSource(dir) != ""
}

// mountSource is the source of the mount at dir in our namespace, "" if
// none (the last one mounted there wins).
func mountSource(dir string) string {
	dir = filepath.Clean(dir)
	src := ""
	for _, m := range ourMounts() {
		if m.point == dir {
			src = m.source
		}
	}
	return src
}

// holderDropOthers is the modern holder script's shell code that drops the
// copies of other droplets' disks (mounted in the machine's namespace while
// those droplets started) from this droplet's namespace, so that it pins
// none. A bookworm holder's dropunder /var/lib does that already.
func holderDropOthers(name string) string {
	return fmt.Sprintf(`for m in $(cut -d' ' -f5 /proc/self/mountinfo | grep -E '^%[1]s/' | grep -v -x -F %[2]s | sort -r); do
	umount -l "$m" 2>/dev/null || true
done
`, DataRoot, dataDir(name))
}

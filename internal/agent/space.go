package agent

import (
	"strings"
	"syscall"

	"github.com/nd-project/nd/internal/proto"
)

const mib = 1 << 20

// importNeed is the room an import of narBytes needs in the store's
// filesystem: the NARs unpacked (file systems round up to blocks), plus the
// database and some slack so a deploy does not leave the disk at zero.
func importNeed(narBytes int64) int64 { return narBytes + narBytes/20 + 16*mib }

// storeFree returns the bytes free in the filesystem of the host's store.
func (a *Agent) storeFree() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(a.cfg.Store.RealPath("/nix/store"), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// noSpace is the error for a store that cannot take need bytes (0: the
// client did not say).
func noSpace(need, free int64) error {
	const fix = "make room (nix-collect-garbage on the host, or a bigger disk) and push again"
	if need <= 0 {
		return codef(proto.CodeNoSpace, "no space left in /nix: %d MiB free; %s", free/mib, fix)
	}
	return codef(proto.CodeNoSpace, "no space left in /nix: need about %d MiB, %d MiB free; %s", (need+mib-1)/mib, free/mib, fix)
}

// importNeedIfKnown is importNeed, or 0 for an unknown size.
func importNeedIfKnown(narBytes int64) int64 {
	if narBytes <= 0 {
		return 0
	}
	return importNeed(narBytes)
}

// checkRoom refuses an import of narBytes (0: unknown) that cannot fit.
func (a *Agent) checkRoom(narBytes int64) error {
	if narBytes <= 0 {
		return nil
	}
	free, err := a.storeFree()
	if err != nil {
		a.log.Warn("measuring free space in the store", "error", err)
		return nil
	}
	if need := importNeed(narBytes); free < need {
		return noSpace(need, free)
	}
	return nil
}

// diskFull tells whether a failed import ran out of space: nix-store said
// so, or the store's filesystem is (nearly) full now.
func (a *Agent) diskFull(stderr string, err error) bool {
	if strings.Contains(stderr, "No space left") || strings.Contains(err.Error(), "no space left") {
		return true
	}
	free, ferr := a.storeFree()
	return ferr == nil && free < mib
}

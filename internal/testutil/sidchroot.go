package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SidRootfs is the Debian sid root filesystem the modern droplets boot
// (fleet-modern's scripts/setup.sh builds it); it carries Nix 2.34.
const SidRootfs = "/var/cache/nd-fleet/sid-rootfs"

// RequireSidRootfs requires SidRootfs to be complete.
func RequireSidRootfs(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, "unshare", "chroot")
	_, err := os.Stat(filepath.Join(SidRootfs, ".nd-ready"))
	Require(t, err == nil, "needs the sid root filesystem (Nix 2.34) at "+SidRootfs+" (scripts/setup.sh)")
}

// SidChroot returns a command running the shell script in a chroot of
// SidRootfs on a throwaway overlay (a tmpfs upper layer in a private mount
// namespace, gone when the command ends), with each of binds mounted at
// its own path and env as the whole environment (PATH and HOME added):
// a Nix 2.34 "laptop" beside Debian 12's Nix 2.8. Debian's nix.conf there
// has sandbox = true, which works as root.
func SidChroot(ctx context.Context, t testing.TB, binds []string, env []string, script string) *exec.Cmd {
	t.Helper()
	o := t.TempDir()
	setup := `set -e
o="$1"; shift
mkdir "$o/u" "$o/r"
mount -t tmpfs tmpfs "$o/u"; mkdir "$o/u/u" "$o/u/w"
mount -t overlay overlay -o lowerdir=` + SidRootfs + `,upperdir="$o/u/u",workdir="$o/u/w" "$o/r"
mount -t proc proc "$o/r/proc"; mount --rbind /dev "$o/r/dev"
for p in "$@"; do mkdir -p "$o/r$p"; mount --bind "$p" "$o/r$p"; done
exec chroot "$o/r" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root ` + shellWords(env) + ` sh -c ` + shellWord(script)
	return exec.CommandContext(ctx, "unshare", append([]string{"-m", "--propagation", "private", "bash", "-c", setup, "bash", o}, binds...)...)
}

func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shellWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = shellWord(w)
	}
	return strings.Join(q, " ")
}

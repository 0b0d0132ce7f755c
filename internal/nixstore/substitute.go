package nixstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// SubstituteJobs is how many paths Substitute lets Nix fetch at once. Nix
// before max-substitution-jobs (NixOS/nix#8299, 2023; Debian 12 has Nix
// 2.8) runs substitutions in build slots, max-jobs of them, and max-jobs
// defaults to 1: one path after another, each waiting for its download
// before the next starts. 16 is what max-substitution-jobs defaults to
// since; newer Nix ignores max-jobs here (nothing is built) and uses that.
const SubstituteJobs = 16

// Substitute lets Nix fetch paths from the substituters of its own
// configuration (nix.conf, NIX_CONFIG: substituters, trusted-public-keys,
// require-sigs), as `nix-store --realise` does for any path it lacks, and
// returns which of paths are valid afterwards. A path no substituter has
// (or whose signature Nix does not trust) simply stays invalid: --keep-going
// fetches the others, and Nix's exit status for the failed ones is not an
// error here. Nix's output comes back for logs.
//
// All paths go to one nix-store call (per 1000, for the argument list):
// Nix then asks the substituters for their narinfos concurrently and
// fetches up to SubstituteJobs paths side by side.
func (s *Store) Substitute(ctx context.Context, paths []string) (map[string]bool, string, error) {
	var out bytes.Buffer
	for rest := paths; len(rest) > 0; {
		n := min(len(rest), 1000)
		for _, p := range rest[:n] {
			if err := ValidStorePath(p); err != nil {
				return nil, "", fmt.Errorf("substituting: %w", err)
			}
		}
		args := []string{"--realise", "--keep-going", "--max-jobs", strconv.Itoa(SubstituteJobs)}
		c := s.cmd(ctx, append(args, rest[:n]...)...)
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		var exit *exec.ExitError
		if err != nil && (ctx.Err() != nil || !errors.As(err, &exit)) {
			return nil, out.String(), fmt.Errorf("substituting: %w", err)
		}
		rest = rest[n:]
	}
	valid, err := s.QueryValid(ctx, paths)
	if err != nil {
		return nil, out.String(), fmt.Errorf("substituting: %w", err)
	}
	return valid, strings.TrimSpace(out.String()), nil
}

// Realise builds drv (whose closure the store holds), substituting its
// inputs from the configured substituters unless noSubstitute, and returns
// its output paths. On failure the error holds Nix's output, which names
// the failing derivation and the last lines of its log.
func (s *Store) Realise(ctx context.Context, drv string, noSubstitute bool) ([]string, error) {
	if err := ValidStorePath(drv); err != nil || !strings.HasSuffix(drv, ".drv") {
		return nil, fmt.Errorf("realising %q: not a derivation", drv)
	}
	args := []string{"--realise", drv}
	if noSubstitute {
		args = append(args, "--option", "substitute", "false")
	}
	c := s.cmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return nil, &RealiseError{Drv: drv, Output: tailLines(stderr.String(), 40), Err: err}
	}
	return lines(stdout.Bytes()), nil
}

// RealiseError is a failed build: Nix's output (its last lines).
type RealiseError struct {
	Drv    string
	Output string
	Err    error
}

func (e *RealiseError) Error() string {
	return fmt.Sprintf("building %s: %v:\n%s", e.Drv, e.Err, e.Output)
}

func (e *RealiseError) Unwrap() error { return e.Err }

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

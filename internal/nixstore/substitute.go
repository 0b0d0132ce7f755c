package nixstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Substitute lets Nix fetch paths from the substituters of its own
// configuration (nix.conf, NIX_CONFIG: substituters, trusted-public-keys,
// require-sigs), as `nix-store --realise` does for any path it lacks, and
// returns which of paths are valid afterwards. A path no substituter has
// (or whose signature Nix does not trust) simply stays invalid: --keep-going
// fetches the others, and Nix's exit status for the failed ones is not an
// error here. Nix's output comes back for logs.
func (s *Store) Substitute(ctx context.Context, paths []string) (map[string]bool, string, error) {
	var out bytes.Buffer
	for rest := paths; len(rest) > 0; {
		n := min(len(rest), 1000)
		for _, p := range rest[:n] {
			if err := ValidStorePath(p); err != nil {
				return nil, "", fmt.Errorf("substituting: %w", err)
			}
		}
		c := s.cmd(ctx, append([]string{"--realise", "--keep-going"}, rest[:n]...)...)
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

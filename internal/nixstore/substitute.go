package nixstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
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
//
// plan, if not nil, is called once with the paths Nix says it will fetch,
// as soon as it has said so (before it fetches them), if it does: see
// PlanParser. It is not called for a call of more than 1000 paths.
func (s *Store) Substitute(ctx context.Context, paths []string, plan func(fetching []string)) (map[string]bool, string, error) {
	for _, p := range paths {
		if err := ValidStorePath(p); err != nil {
			return nil, "", fmt.Errorf("substituting: %w", err)
		}
	}
	if len(paths) > 1000 {
		plan = nil
	}
	var out bytes.Buffer
	for rest := paths; len(rest) > 0; {
		n := min(len(rest), 1000)
		args := []string{"--realise", "--keep-going", "--max-jobs", strconv.Itoa(SubstituteJobs)}
		c := s.cmd(ctx, append(args, rest[:n]...)...)
		var w io.Writer = &out
		if plan != nil {
			w = io.MultiWriter(&out, &PlanParser{Done: plan})
		}
		c.Stdout, c.Stderr = w, w
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

// PlanParser reads the output of `nix-store --realise` as it comes and
// calls Done once with the store paths Nix announces it will fetch,
// Nix's
//
//	these 211 paths will be fetched (172.65 MiB download, 509.20 MiB unpacked):
//	  /nix/store/…
//
// (or "this path will be fetched …" and one path), once the announced
// number of paths has been listed. Output in any other form is ignored:
// Done is then never called, and the caller waits for Nix to finish. It
// is an io.Writer that never fails.
type PlanParser struct {
	Done func(fetching []string)

	line  []byte
	want  int // paths announced; 0: no announcement seen yet
	paths []string
	done  bool
}

var planHeaderRE = regexp.MustCompile(`^(?:these (\d+) paths|this path) will be fetched\b`)

func (p *PlanParser) Write(b []byte) (int, error) {
	n := len(b)
	for !p.done && len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(p.line) < 4096 {
				p.line = append(p.line, b...)
			}
			break
		}
		p.line = append(p.line, b[:i]...)
		b = b[i+1:]
		p.parseLine(string(p.line))
		p.line = p.line[:0]
	}
	return n, nil
}

func (p *PlanParser) parseLine(l string) {
	if p.want == 0 {
		if m := planHeaderRE.FindStringSubmatch(l); m != nil {
			p.want = 1
			if m[1] != "" {
				p.want, _ = strconv.Atoi(m[1])
			}
		}
		return
	}
	path, ok := strings.CutPrefix(l, "  ")
	if !ok || ValidStorePath(path) != nil {
		// Not the listing Nix 2.8 to 2.34 print: give up.
		p.done = true
		return
	}
	p.paths = append(p.paths, path)
	if len(p.paths) == p.want {
		p.done = true
		p.Done(p.paths)
	}
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

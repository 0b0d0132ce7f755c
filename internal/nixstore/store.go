package nixstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nd-project/nd/internal/nixcmd"
)

// Store runs nix-store against one Nix store.
type Store struct {
	// Root, if not empty, makes this a chroot store (`nix-store --store
	// ROOT`): paths are still /nix/store/..., but live under ROOT. Tests use
	// it to get a separate, empty store on the same machine.
	Root string
	// Run makes commands; nil means nixcmd.Exec.
	Run nixcmd.Runner
	// NixStore is the nix-store program; "" means "nix-store" on PATH.
	NixStore string
}

func (s *Store) cmd(ctx context.Context, args ...string) *exec.Cmd {
	return s.Run.Command(ctx, s.prog(), s.args(args)...)
}

func (s *Store) prog() string {
	if s.NixStore == "" {
		return "nix-store"
	}
	return s.NixStore
}

// args puts the chroot store's option in front of args.
func (s *Store) args(args []string) []string {
	if s.Root == "" {
		return args
	}
	return append([]string{"--store", s.Root}, args...)
}

// RealPath is where store path (or any path under /nix) p lives on disk.
func (s *Store) RealPath(p string) string {
	if s.Root == "" {
		return p
	}
	return filepath.Join(s.Root, p)
}

// output runs nix-store and returns its stdout, with stderr in the error.
func (s *Store) output(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return s.Run.Output(ctx, stdin, s.prog(), s.args(args)...)
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// QueryValid reports which of paths are valid in the store, with one
// `nix-store --check-validity --print-invalid` per 1000 paths.
func (s *Store) QueryValid(ctx context.Context, paths []string) (map[string]bool, error) {
	valid := make(map[string]bool, len(paths))
	for _, p := range paths {
		if err := ValidStorePath(p); err != nil {
			return nil, fmt.Errorf("querying validity: %w", err)
		}
		valid[p] = true
	}
	for len(paths) > 0 {
		n := min(len(paths), 1000)
		out, err := s.output(ctx, nil, append([]string{"--check-validity", "--print-invalid"}, paths[:n]...)...)
		if err != nil {
			return nil, fmt.Errorf("querying validity: %w", err)
		}
		for _, p := range lines(out) {
			if _, ok := valid[p]; !ok {
				return nil, fmt.Errorf("querying validity: nix-store printed unexpected %q", p)
			}
			valid[p] = false
		}
		paths = paths[n:]
	}
	for p, ok := range valid {
		if !ok {
			delete(valid, p)
		}
	}
	return valid, nil
}

// Requisites returns the closure of paths, dependencies before the paths
// that refer to them (the order `nix-store -qR` prints, which is a
// reversed topological sort).
func (s *Store) Requisites(ctx context.Context, paths ...string) ([]string, error) {
	out, err := s.output(ctx, nil, append([]string{"--query", "--requisites"}, paths...)...)
	if err != nil {
		return nil, fmt.Errorf("querying closure: %w", err)
	}
	res := lines(out)
	for _, p := range res {
		if err := ValidStorePath(p); err != nil {
			return nil, fmt.Errorf("querying closure: %w", err)
		}
	}
	return res, nil
}

// DumpDB returns the registration of paths (`nix-store --dump-db`): per
// path its NAR hash and size, deriver and references.
func (s *Store) DumpDB(ctx context.Context, paths []string) ([]byte, error) {
	out, err := s.output(ctx, nil, append([]string{"--dump-db"}, paths...)...)
	if err != nil {
		return nil, fmt.Errorf("querying references: %w", err)
	}
	return out, nil
}

// NarSize returns the total NAR size of paths (`nix-store --query --size`).
func (s *Store) NarSize(ctx context.Context, paths []string) (int64, error) {
	if len(paths) == 0 {
		return 0, nil
	}
	out, err := s.output(ctx, nil, append([]string{"--query", "--size"}, paths...)...)
	if err != nil {
		return 0, fmt.Errorf("querying sizes: %w", err)
	}
	var total int64
	for _, l := range lines(out) {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("querying sizes: %q is not a size", l)
		}
		total += n
	}
	return total, nil
}

// Export writes `nix-store --export paths...` to w. nix-store sorts the
// paths so that each comes after its references.
func (s *Store) Export(ctx context.Context, w io.Writer, paths []string) error {
	return s.ExportCPU(ctx, w, paths, nil)
}

// ExportCPU is Export that also adds the user+system CPU time nix-store
// took to *cpu, if cpu is set (for the benchmark's stage breakdown).
func (s *Store) ExportCPU(ctx context.Context, w io.Writer, paths []string, cpu *time.Duration) error {
	if len(paths) == 0 {
		_, err := w.Write(make([]byte, 8)) // an empty export: just the end marker
		return err
	}
	c := s.cmd(ctx, append([]string{"--export"}, paths...)...)
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = w, &stderr
	err := c.Run()
	if cpu != nil && c.ProcessState != nil {
		*cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	if err != nil {
		return fmt.Errorf("nix-store --export: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Importer is a running `nix-store --import`: write the export stream to
// Stdin, then Close or Abort.
type Importer struct {
	Stdin  io.WriteCloser
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// StartImport starts `nix-store --import`.
func (s *Store) StartImport(ctx context.Context) (*Importer, error) {
	im := &Importer{cmd: s.cmd(ctx, "--import")}
	im.cmd.Stdout, im.cmd.Stderr = &im.stdout, &im.stderr
	w, err := im.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting nix-store --import: %w", err)
	}
	im.Stdin = w
	if err := im.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nix-store --import: %w", err)
	}
	return im, nil
}

// Close ends the stream and waits; it returns the paths nix-store imported.
func (im *Importer) Close() ([]string, error) {
	cerr := im.Stdin.Close()
	if err := im.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("nix-store --import: %w: %s", err, strings.TrimSpace(im.stderr.String()))
	}
	if cerr != nil && !errors.Is(cerr, io.ErrClosedPipe) {
		return nil, fmt.Errorf("nix-store --import: closing its input: %w", cerr)
	}
	return lines(im.stdout.Bytes()), nil
}

// Stderr is what nix-store --import said on its standard error so far
// (complete once Close or Abort returned).
func (im *Importer) Stderr() string { return im.stderr.String() }

// Abort cuts nix-store's input short, so that the entry it is reading is
// incomplete and refused, and waits for it to exit. Entries it already
// completed stay imported (and valid).
func (im *Importer) Abort() {
	im.Stdin.Close()
	im.cmd.Wait()
}

// Import pipes an export stream into `nix-store --import` as is, without
// validation; the agent uses CopyExport in between.
func (s *Store) Import(ctx context.Context, r io.Reader) ([]string, error) {
	out, err := s.output(ctx, r, "--import")
	if err != nil {
		return nil, err
	}
	return lines(out), nil
}

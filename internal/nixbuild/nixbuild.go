// Package nixbuild turns a user's config.nix (or a flake's
// ndConfigurations.<name>) into a deploy package with Nix: it writes the
// embedded modules to a cache directory, prepares the nd-init and busybox
// directories the modules put into the store, runs nix-build on
// modules/build.nix (flakes: modules/flake-build.nix) with nixpkgs' lib and
// returns the package's store path. nd-push (internal/cli) and tests import it.
package nixbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixcmd"
	"github.com/nd-project/nd/modules"
)

// Options say what to build and with which tools. Only Config is required.
type Options struct {
	// Config is the user's config.nix (or its directory), or a flake
	// reference FLAKE#NAME (see RefKind).
	Config string
	// NixpkgsPath is a nixpkgs checkout (or a nixpkgs.lib checkout, or a
	// lib directory) to build with (nd-push --nixpkgs or -I nixpkgs=PATH).
	// Empty: <nixpkgs> from NIX_PATH; without either the build fails with
	// ErrNoNixpkgsLib. Flakes ignore it: their lib comes from their inputs.
	NixpkgsPath string
	// Offline uses nd's offline pkgs even with a full nixpkgs (whose lib
	// is still used).
	Offline bool
	// OutLink, if set, is the GC-root symlink nix-build creates (-o); empty
	// means --no-out-link.
	OutLink string
	// Name is the default app name (docker.name); empty: the config file's
	// directory name when it is a valid name, else "app".
	Name string
	// NDInit is the nd-init binary; empty: $ND_INIT, else nd-init next to
	// the running executable.
	NDInit string
	// Busybox is a static busybox binary; empty: $ND_BUSYBOX, else
	// /bin/busybox or /usr/bin/busybox.
	Busybox string
	// ExtraPkgs is a Nix file holding a function pkgs -> { name = drv; }
	// whose packages are added to pkgs (e.g. host programs imported into the
	// store by tests).
	ExtraPkgs string
	// CacheDir is where modules, nd-init and busybox directories are written;
	// empty: modules.CacheRoot().
	CacheDir string
	// Log receives nix-build's output at debug level and the modules'
	// warnings at warn level; nil discards them.
	Log hclog.Logger
	// Progress, if set, also receives nix-build's stderr as it runs (what
	// is being built), for users watching a long build.
	Progress io.Writer
	// Runner runs Nix's commands; nil means nixcmd.Exec.
	Runner nixcmd.Runner
}

// Error is a failed build: Nix's message, trimmed to its useful part.
type Error struct {
	Config  string
	Message string
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("building %s:\n%s", e.Config, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Build builds opts.Config (a config.nix, its directory, or a flake
// reference FLAKE#NAME, see RefKind) and returns the deploy package: its
// store path and its manifest, read and checked once.
func Build(ctx context.Context, opts Options) (*manifest.Package, error) {
	inv, err := plan(ctx, opts)
	if err != nil {
		return nil, err
	}
	return runNixBuild(ctx, opts, inv.what, inv.offlinePkgs, inv.args)
}

// invocation is an entry point of the modules with its arguments: what
// nix-build (or nix-instantiate) runs for opts.
type invocation struct {
	args        []string
	what        string // the config, for errors
	offlinePkgs bool
}

// plan resolves opts into an invocation: a config.nix (build.nix) or a
// flake (flake-build.nix).
func plan(ctx context.Context, opts Options) (invocation, error) {
	if RefKind(opts.Config) == RefFlake {
		return planFlake(ctx, opts)
	}
	config, err := filepath.Abs(opts.Config)
	if err != nil {
		return invocation{}, fmt.Errorf("resolving config path: %w", err)
	}
	if st, err := os.Stat(config); err != nil {
		return invocation{}, fmt.Errorf("reading config: %w", err)
	} else if st.IsDir() {
		config = filepath.Join(config, "config.nix")
		if _, err := os.Stat(config); err != nil {
			return invocation{}, fmt.Errorf("reading config: %w", err)
		}
	}
	np, err := ResolveNixpkgs(opts.NixpkgsPath, os.Getenv("NIX_PATH"), opts.Offline)
	if err != nil {
		return invocation{}, fmt.Errorf("building %s: %w", config, err)
	}
	p, err := prepare(opts)
	if err != nil {
		return invocation{}, err
	}
	name := opts.Name
	if name == "" {
		name = DefaultName(config)
	}
	args := []string{filepath.Join(p.modDir, modules.EntryPoint),
		"--arg", "configuration", config,
		"--arg", "lib", np.Lib,
		"--arg", "ndInit", p.initDir,
		"--arg", "busybox", p.bbDir,
		"--argstr", "name", name,
	}
	if np.Pkgs != "" {
		args = append(args, "--arg", "nixpkgs", np.Pkgs)
	} else {
		// The offline pkgs never need a binary cache; asking an
		// unreachable one only makes the build wait.
		args = append(args, "--option", "substituters", "")
	}
	if opts.ExtraPkgs != "" {
		abs, err := filepath.Abs(opts.ExtraPkgs)
		if err != nil {
			return invocation{}, fmt.Errorf("resolving extra pkgs path: %w", err)
		}
		args = append(args, "--arg", "extraPkgs", abs)
	}
	return invocation{args: args, what: config, offlinePkgs: np.Pkgs == ""}, nil
}

// prepared are the directories every build hands to nix-build.
type prepared struct {
	modDir  string // the extracted modules
	initDir string // holds bin/nd-init
	bbDir   string // holds bin/busybox and bin/sh
}

// prepare extracts the modules and makes the nd-init and busybox directories.
func prepare(opts Options) (prepared, error) {
	cache := opts.CacheDir
	if cache == "" {
		var err error
		if cache, err = modules.CacheRoot(); err != nil {
			return prepared{}, err
		}
	}
	modDir, err := modules.Extract(cache)
	if err != nil {
		return prepared{}, err
	}
	initBin, err := findNDInit(opts.NDInit)
	if err != nil {
		return prepared{}, err
	}
	if err := checkStatic(initBin); err != nil {
		// The container has nothing but /nix/store: no libc to load.
		return prepared{}, fmt.Errorf("nd-init %s: %w (build it with CGO_ENABLED=0)", initBin, err)
	}
	initDir, err := binDir(cache, "nd-init", initBin, nil)
	if err != nil {
		return prepared{}, fmt.Errorf("preparing nd-init: %w", err)
	}
	bbBin, err := findBusybox(opts.Busybox)
	if err != nil {
		return prepared{}, err
	}
	bbDir, err := binDir(cache, "busybox", bbBin, []string{"sh"})
	if err != nil {
		return prepared{}, fmt.Errorf("preparing busybox: %w", err)
	}
	return prepared{modDir: modDir, initDir: initDir, bbDir: bbDir}, nil
}

// runNixBuild runs nix-build with args (an entry point and its --arg's) plus
// the output link and trace flags, and returns the checked package. what
// names the config in errors; offlinePkgs adds the hint about nixpkgs to a
// missing attribute.
func runNixBuild(ctx context.Context, opts Options, what string, offlinePkgs bool, args []string) (*manifest.Package, error) {
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	args = append(args, "--show-trace") // NixMessage picks the option and file out of the trace
	if opts.OutLink != "" {
		args = append(args, "--out-link", opts.OutLink)
	} else {
		args = append(args, "--no-out-link")
	}
	log.Debug("running nix-build", "args", args)

	var stdout, stderr bytes.Buffer
	errW := io.MultiWriter(&stderr, logWriter{log})
	if opts.Progress != nil {
		errW = io.MultiWriter(errW, opts.Progress)
	}
	if err := opts.Runner.Run(ctx, &stdout, errW, "nix-build", args...); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("building %s: %w", what, ctx.Err())
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("running nix-build (is Nix installed?): %w", err)
		}
		msg := NixMessage(stderr.String())
		if offlinePkgs && missingAttr.MatchString(msg) {
			msg += "\nnote: this build used nd's offline pkgs, which have only busybox and trivial builders;\n" +
				"      for nixpkgs' packages pass --nixpkgs PATH or -I nixpkgs=PATH (or put nixpkgs on NIX_PATH)."
		}
		return nil, &Error{Config: what, Message: msg, Err: err}
	}
	// The modules' warnings (NixOS-style config.warnings) arrive as traces.
	for _, l := range strings.Split(stderr.String(), "\n") {
		if w, ok := strings.CutPrefix(l, "trace: warning: "); ok {
			log.Warn(w)
		}
	}
	out := strings.Fields(stdout.String())
	if len(out) == 0 {
		return nil, fmt.Errorf("building %s: nix-build printed no store path", what)
	}
	path := out[len(out)-1]
	pkg, err := manifest.LoadPackage(path)
	if err != nil {
		return nil, fmt.Errorf("checking built package: %w", err)
	}
	return pkg, nil
}

// DefaultName is the app name for a config file: its directory's name,
// lowercased, when that is a valid name, else "app".
func DefaultName(config string) string {
	dir := filepath.Base(filepath.Dir(config))
	n := strings.ToLower(dir)
	n = invalidNameChars.ReplaceAllString(n, "-")
	n = strings.TrimLeft(n, "-_.")
	if len(n) > 63 {
		n = n[:63]
	}
	if !manifest.ValidName(n) {
		return "app"
	}
	return n
}

var missingAttr = regexp.MustCompile(`error: attribute '[^']+' missing`)

var invalidNameChars = regexp.MustCompile(`[^a-z0-9_.-]+`)

func findNDInit(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if p := os.Getenv("ND_INIT"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "nd-init")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("finding nd-init: not next to this program and $ND_INIT is unset; build cmd/nd-init (static) and put it beside nd-push")
}

func findBusybox(given string) (string, error) {
	cands := []string{given}
	if given == "" {
		cands = []string{os.Getenv("ND_BUSYBOX"), "/bin/busybox", "/usr/bin/busybox"}
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err != nil {
			if given != "" {
				return "", fmt.Errorf("finding busybox: %w", err)
			}
			continue
		}
		if err := checkStatic(c); err != nil {
			return "", fmt.Errorf("busybox %s: %w (install busybox-static or set ND_BUSYBOX)", c, err)
		}
		return c, nil
	}
	return "", errors.New("finding busybox: no static busybox at /bin/busybox or /usr/bin/busybox; install busybox-static or set ND_BUSYBOX")
}

// checkStatic fails for an ELF file with a program interpreter: it would not
// run inside a Nix builder or a container that has only /nix/store.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("dynamically linked; a static binary is needed")
		}
	}
	return nil
}

// binDir makes cache/<name>-<hash>/bin/<name> a copy of bin (plus symlinks
// to it named by links) and returns the directory. The name is content
// addressed, so builtins.path in build.nix yields the same store path for
// the same binary.
func binDir(cache, name, bin string, links []string) (string, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(cache, name+"-"+hex.EncodeToString(sum[:])[:32])
	if _, err := os.Stat(filepath.Join(dir, "bin", name)); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(cache, "."+name+"-tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "bin"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "bin", name), data, 0o755); err != nil {
		return "", err
	}
	for _, l := range links {
		if err := os.Symlink(name, filepath.Join(tmp, "bin", l)); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "bin", name)); statErr == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

// NixMessage keeps the useful part of nix-build's stderr (run with
// --show-trace): the error itself, from the first "error:" line to the trace,
// then the innermost option being evaluated and the file defining it, if the
// trace names them.
func NixMessage(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "error:") {
			start = i
			break
		}
	}
	if start < 0 {
		return strings.TrimSpace(stderr)
	}
	var out []string
	var option, file string
	inTrace := false
	for _, l := range lines[start:] {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "…") {
			inTrace = true
			switch {
			case option == "" && strings.HasPrefix(t, "… while evaluating the option `"):
				option = strings.TrimPrefix(t, "… ")
			case file == "" && strings.HasPrefix(t, "… while evaluating definitions from `"):
				file = strings.TrimPrefix(t, "… ")
			}
			continue
		}
		if inTrace || strings.Contains(t, "(use '--show-trace' to show detailed location information)") {
			continue
		}
		out = append(out, l)
	}
	msg := strings.TrimSpace(strings.Join(out, "\n"))
	for _, c := range []string{option, file} {
		if c != "" && !strings.Contains(msg, strings.TrimSuffix(c, ":")) {
			msg += "\n       " + c
		}
	}
	return msg
}

// logWriter sends nix-build's stderr lines to a logger at debug level.
type logWriter struct{ log hclog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		w.log.Debug(sc.Text())
	}
	return len(p), nil
}

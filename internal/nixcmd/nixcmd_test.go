package nixcmd

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestRunnerErrors: output and stderr come back; a failure names the
// command and says what it printed; a missing Nix program is an
// *exec.Error naming where it was looked for.
func TestRunnerErrors(t *testing.T) {
	var r Runner
	out, err := r.Output(context.Background(), strings.NewReader("in"), "cat")
	if err != nil || string(out) != "in" {
		t.Errorf("Output(cat) = %q, %v; want \"in\"", out, err)
	}
	var stderr strings.Builder
	err = r.Run(context.Background(), nil, &stderr, "sh", "-c", "echo oops >&2; exit 3", "a", "b", "c")
	var e *Error
	if !errors.As(err, &e) || e.Stderr != "oops" || stderr.String() != "oops\n" {
		t.Fatalf("Run(sh) = %v (stderr %q), want an *Error with stderr oops", err, stderr.String())
	}
	if want := "sh -c echo oops >&2; exit 3 a b ... (1 more): exit status 3: oops"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if got := Stderr(fmt.Errorf("wrapped: %w", err)); got != "oops" {
		t.Errorf("Stderr(wrapped error) = %q, want oops", got)
	}
	if got := Stderr(errors.New("other")); got != "" {
		t.Errorf("Stderr(other error) = %q, want nothing", got)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("error %v does not unwrap to exit status 3", err)
	}

	old := InstallerBinDirs
	InstallerBinDirs = []string{t.TempDir()}
	t.Cleanup(func() { InstallerBinDirs = old })
	t.Setenv("PATH", t.TempDir())
	_, err = r.Output(context.Background(), nil, "nix-store", "--version")
	var ee *exec.Error
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), InstallerBinDirs[0]) {
		t.Errorf("nix-store without Nix = %v, want an *exec.Error naming %s", err, InstallerBinDirs[0])
	}
}

// TestRunnerInjected: an injected Runner makes every command.
func TestRunnerInjected(t *testing.T) {
	var calls []string
	r := Runner(func(ctx context.Context, name string, args ...string) *exec.Cmd {
		calls = append(calls, name+" "+strings.Join(args, " "))
		return exec.CommandContext(ctx, "echo", "replaced")
	})
	out, err := r.Output(context.Background(), nil, "nix-store", "-qR", "/nix/store/x")
	if err != nil || string(out) != "replaced\n" || len(calls) != 1 || calls[0] != "nix-store -qR /nix/store/x" {
		t.Errorf("Output = %q, %v, calls %q; want the injected command", out, err, calls)
	}
}

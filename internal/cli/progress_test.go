package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/nd-project/nd/internal/proto"
)

// ansi matches the terminal control sequences mpb draws with.
var ansi = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// playDeploy drives r through a build and two hosts' deploys, one with a
// transfer that lasts long enough for several frames.
// hold is how long the agent stays at its last step.
func playDeploy(r reporter, hold time.Duration) {
	r.buildStart("examples/hello")
	r.buildLine("these 2 derivations will be built:")
	r.buildLine("building '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nd-hello.drv'...")
	time.Sleep(300 * time.Millisecond)
	r.buildDone("/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nd-hello", "hello", 1200*time.Millisecond)
	var wg sync.WaitGroup
	for _, h := range []string{"web1", "web2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.info(h, "host-store mode (nd-agent dev)")
			const total = 40 << 20
			m := r.transfer(h, "12 paths", total)
			for i := int64(1); i <= 10; i++ {
				m.bytes(i * total / 10)
				m.wire(i * total / 40)
				time.Sleep(60 * time.Millisecond)
			}
			m.done()
			r.stage(h, proto.Progress{Stage: "container", Message: "starting container 0123456789ab"})
			time.Sleep(hold)
			res := pushResult{Host: h, Mode: "host-store", Generation: 3, Changed: true, Paths: 12, Sent: 10 << 20,
				Elapsed: 2500 * time.Millisecond, Build: 1200 * time.Millisecond}
			if h == "web2" {
				res = pushResult{Host: h, Mode: "host-store", Err: errors.New("health check failed")}
			}
			r.result("hello", res)
		}()
	}
	wg.Wait()
	r.finish()
}

// TestProgressOnTerminal runs the terminal display under a pseudo-terminal:
// the build's step, a bar per host with size of total in MiB, percent,
// rate and ETA, the agent's step after the bytes, and each host's result.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel() // each plays a few seconds of a deploy
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(copied) }()

	env := &Env{Stdout: io.Discard, Stderr: tty}
	r := progressOptions{}.reporter(env)
	if _, ok := r.(*ttyReporter); !ok {
		t.Fatalf("reporter on a terminal is %T, want the live display", r)
	}
	playDeploy(r, 2300*time.Millisecond)
	tty.Close()
	<-copied
	out := ansi.ReplaceAllString(screen.String(), "")
	t.Logf("terminal:\n%s", out)
	for _, want := range []string{
		"building nd-hello.drv",                        // what Nix builds, from its output
		"built bbbbbbbb…-nd-hello (app hello) in 1.2s", // the build's line at the end
		"12 paths", "MiB / 40.0 MiB", "%", "MiB/s", "ETA", // the bar's figures
		"on the wire",
		"web1: host-store mode (nd-agent dev)\r\n",             // info lines stay above the live ones (the pty ends lines with CR LF)
		"starting container 0123456789ab",                      // the agent's step after the transfer
		"starting container 0123456789ab (2s)",                 // and how long it has been at it
		"hello deployed generation 3", "with the build's 1.2s", // the result, build time included
		"FAILED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(screen.String(), "\x1b[") {
		t.Errorf("no live redraw on the terminal: %q", screen.String())
	}
	if strings.Contains(out, " MB") || strings.Contains(out, " kB") {
		t.Errorf("decimal units in binary sizes:\n%s", out)
	}
}

// TestProgressPlain: without a terminal, plain lines; -v adds every step;
// -q leaves only what must be said.
func TestProgressPlain(t *testing.T) {
	t.Parallel() // each plays a few seconds of a deploy
	var buf bytes.Buffer
	playDeploy(progressOptions{}.reporter(&Env{Stderr: &buf, Stdout: io.Discard}), 0)
	out := buf.String()
	if strings.Contains(out, "\x1b[") || strings.Contains(out, "\r") {
		t.Errorf("plain output has terminal control: %q", out)
	}
	for _, want := range []string{"building examples/hello\n", "package /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nd-hello (app hello)\n", "web1: host-store mode (nd-agent dev)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "starting container") {
		t.Errorf("plain output without -v shows the agent's steps:\n%s", out)
	}
	buf.Reset()
	playDeploy(progressOptions{Verbose: true}.reporter(&Env{Stderr: &buf, Stdout: io.Discard}), 0)
	for _, want := range []string{"building '/nix/store/", "web2: starting container 0123456789ab\n", "web1: sent 12 paths, 40.0 MiB → 10.0 MiB on the wire"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("-v output lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	playDeploy(progressOptions{Quiet: true}.reporter(&Env{Stderr: &buf, Stdout: io.Discard}), 0)
	if buf.Len() != 0 {
		t.Errorf("-q printed %q", buf.String())
	}
}

// TestProgressJSON: --json prints one event a line on stdout, each with a
// time and an event name, and a result per host.
func TestProgressJSON(t *testing.T) {
	t.Parallel() // each plays a few seconds of a deploy
	var out, errb bytes.Buffer
	playDeploy(progressOptions{JSON: true}.reporter(&Env{Stdout: &out, Stderr: &errb}), 0)
	if errb.Len() != 0 {
		t.Errorf("--json wrote to stderr: %q", errb.String())
	}
	events := map[string]int{}
	results := map[string]Event{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q is no JSON event: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339, e.Time); err != nil || e.Event == "" {
			t.Errorf("event %q lacks a time or name", l)
		}
		events[e.Event]++
		if e.Event == "result" {
			results[e.Host] = e
		}
	}
	for _, ev := range []string{"build", "build-log", "built", "info", "transfer", "transferred", "stage", "result"} {
		if events[ev] == 0 {
			t.Errorf("no %q event in:\n%s", ev, out.String())
		}
	}
	if r := results["web1"]; r.Generation != 3 || r.Changed == nil || !*r.Changed || r.Error != "" {
		t.Errorf("web1's result = %+v", r)
	}
	if r := results["web2"]; r.Error != "health check failed" {
		t.Errorf("web2's result = %+v, want its error", r)
	}
}

func TestNixActivity(t *testing.T) {
	for line, want := range map[string]string{
		"building '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv'...":                      "building hello-2.12.drv",
		"copying path '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-glibc-2.38' from 'https://x.org'...": "fetching glibc-2.38",
		"these 3 derivations will be built:":                                                            "these 3 derivations will be built",
		"  /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv":                                           "",
	} {
		if got := nixActivity(line); got != want {
			t.Errorf("nixActivity(%q) = %q, want %q", line, got, want)
		}
	}
}

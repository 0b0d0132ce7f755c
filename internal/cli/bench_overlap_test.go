package cli

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nd-project/nd/internal/fleet"
)

// BenchmarkDeployGaps prints issue 11's table for both deploy strategies
// side by side, from one run on one droplet: for an update, a broken release
// (fails before it listens; nd keeps or restores the old one) and a
// rollback, the requests sent, failed and the longest time without an
// answer, probing at 50 requests/s from outside the droplet (a new
// connection each) a web app that boots in 2 s behind an HTTP healthcheck.
// The recreate column is the baseline: today's stop-then-start.
//
// It is a figure printer, not a timed test:
//
//	go test -run XXX -bench BenchmarkDeployGaps -benchtime 1x -timeout 20m ./internal/cli
func BenchmarkDeployGaps(b *testing.B) {
	e := newDeployEnv(b, fleet.Options{Nix: true})
	ctx := context.Background()
	dir := b.TempDir()
	host := e.d.Name
	strategies := []string{"overlap", "recreate"}
	ports := map[string]int{"overlap": 8101, "recreate": 8102}
	app := func(s, v string, broken bool) string {
		return bootingApp(b, dir, "gap-"+s, ports[s], s, v, broken)
	}
	url := func(s string) string { return fmt.Sprintf("http://%s:%d/", e.d.Addr, ports[s]) }
	for _, s := range strategies {
		if code, _, _ := e.push(b, host, app(s, "v1", false)); code != 0 {
			b.Fatalf("deploying %s v1 exited %d", s, code)
		}
		if err := waitAnswer(ctx, url(s), "v1", 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	type phase struct {
		name string
		run  func(s string) int // exit code
	}
	phases := []phase{
		{"update v1 -> v2", func(s string) int { c, _, _ := e.push(b, host, app(s, "v2", false)); return c }},
		{"broken release (exits before listening)", func(s string) int { c, _, _ := e.push(b, host, app(s, "v3", true)); return c }},
		{"rollback to v1", func(s string) int { c, _, _ := e.nd(b, ctx, "rollback", host, "gap-"+s, "1"); return c }},
	}
	wantCode := []int{0, 1, 0}
	results := map[string]map[string]probeResult{}
	for i, ph := range phases {
		results[ph.name] = map[string]probeResult{}
		for _, s := range strategies {
			p := startProbe(url(s), probeRate, probeMax)
			time.Sleep(500 * time.Millisecond)
			code := ph.run(s)
			// Until the app answers again (recreate), then a little more.
			want := []string{"v2", "v2", "v1"}[i]
			waitAnswer(ctx, url(s), want, 60*time.Second)
			time.Sleep(500 * time.Millisecond)
			results[ph.name][s] = p.Stop()
			if code != wantCode[i] {
				b.Errorf("%s (%s) exited %d, want %d", ph.name, s, code, wantCode[i])
			}
		}
	}
	b.StopTimer()
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "probe: GET every %s (new connection each), app boots in 2 s behind an HTTP healthcheck\n", time.Second/probeRate)
	fmt.Fprintln(tw, "phase\toverlap: sent\tfailed\tlongest gap\trecreate (baseline): sent\tfailed\tlongest gap\ttarget")
	for _, ph := range phases {
		o, r := results[ph.name]["overlap"], results[ph.name]["recreate"]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%s\t0 failed\n", ph.name,
			o.Sent, o.Failed, o.LongestGap.Round(time.Millisecond), r.Sent, r.Failed, r.LongestGap.Round(time.Millisecond))
	}
	tw.Flush()
	b.Logf("\n%s", buf.String())
	fmt.Print(buf.String())
}

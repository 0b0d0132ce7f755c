package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// probeResult is what a prober saw: requests sent and failed, the longest
// time without a successful answer, and the answers in the order seen.
type probeResult struct {
	Sent, Failed int
	LongestGap   time.Duration
	Answers      []string // distinct bodies, in order of first success
	FirstError   string
}

func (p probeResult) String() string {
	return fmt.Sprintf("%d sent, %d failed, longest gap %s, answers %v", p.Sent, p.Failed, p.LongestGap.Round(time.Millisecond), p.Answers)
}

// prober sends GET url at a fixed rate, each on a new connection (as a
// client arriving during a deploy would), until stopped or until max
// requests: a bounded loop that ends by itself.
type prober struct {
	stop chan struct{}
	done chan probeResult
}

func startProbe(url string, rate int, max int) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan probeResult, 1)}
	client := &http.Client{
		Timeout:   5 * time.Second, // a slow answer under load is not a failed one
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	type answer struct {
		at   time.Time
		ok   bool
		body string
		err  string
	}
	go func() {
		var (
			mu      sync.Mutex
			answers []answer
			wg      sync.WaitGroup
		)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		start := time.Now()
		sent := 0
	loop:
		for sent < max {
			select {
			case <-p.stop:
				break loop
			case <-tick.C:
			}
			sent++
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := answer{}
				resp, err := client.Get(url)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					a.body = strings.TrimSpace(string(b))
					a.ok = resp.StatusCode == 200
					if !a.ok {
						a.err = resp.Status
					}
				} else {
					a.err = err.Error()
				}
				a.at = time.Now()
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			}()
		}
		wg.Wait()
		res := probeResult{Sent: sent}
		last := start
		seen := map[string]bool{}
		// Answers arrive out of order by a few ms at most; order by time.
		sort.Slice(answers, func(i, j int) bool { return answers[i].at.Before(answers[j].at) })
		for _, a := range answers {
			if !a.ok {
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = a.err
				}
				continue
			}
			if g := a.at.Sub(last); g > res.LongestGap {
				res.LongestGap = g
			}
			last = a.at
			if !seen[a.body] {
				seen[a.body] = true
				res.Answers = append(res.Answers, a.body)
			}
		}
		if len(answers) > 0 {
			if g := answers[len(answers)-1].at.Sub(last); g > res.LongestGap {
				res.LongestGap = g
			}
		}
		p.done <- res
	}()
	return p
}

// Stop ends the probe and waits for its last answers.
func (p *prober) Stop() probeResult {
	close(p.stop)
	return <-p.done
}

// waitAnswer waits until url answers want, for up to d.
func waitAnswer(ctx context.Context, url, want string, d time.Duration) error {
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = strings.TrimSpace(string(b))
			if resp.StatusCode == 200 && last == want {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s answered %q, want %q", url, last, want)
}

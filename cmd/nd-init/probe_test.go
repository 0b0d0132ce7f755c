package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestProbeHTTP(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fine")) })
	mux.HandleFunc("/health/deep", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "full=1" {
			http.Error(w, "want query", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-block })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(block) // before Close, which waits for the /slow handler
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"2xx", []string{port, "/ok"}, 0},
		{"path without slash", []string{port, "ok"}, 0},
		{"query", []string{port, "/health/deep?full=1"}, 0},
		{"3xx is healthy, not followed", []string{port, "/moved"}, 0},
		{"default path 404", []string{port}, 1},
		{"404", []string{port, "/missing"}, 1},
		{"5xx", []string{port, "/broken"}, 1},
		{"timeout", []string{port, "/slow"}, 1},
		{"nothing listening", []string{closed, "/"}, 1},
		{"bad port", []string{"http"}, 2},
		{"port out of range", []string{"70000"}, 2},
		{"no args", nil, 2},
		{"too many args", []string{port, "/", "x"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			start := time.Now()
			got := runProbeHTTP(tt.args, probeOptions{Timeout: 500 * time.Millisecond}, &out, &errs)
			if got != tt.want {
				t.Errorf("probe-http %q = %d, want %d (stdout %q, stderr %q)", tt.args, got, tt.want, out.String(), errs.String())
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("probe-http %q took %s, want it to respect its 500ms timeout", tt.args, took)
			}
		})
	}
}

func TestRunDispatch(t *testing.T) {
	var out, errs bytes.Buffer
	if got := run([]string{"version"}, &out, &errs); got != 0 || !bytes.HasPrefix(out.Bytes(), []byte("nd-init ")) {
		t.Errorf("nd-init version = %d, %q", got, out.String())
	}
	for _, args := range [][]string{nil, {"-h"}, {"a.json", "b.json"}, {"/nonexistent/processes.json"}} {
		out.Reset()
		errs.Reset()
		if got := run(args, &out, &errs); got != 2 {
			t.Errorf("nd-init %q = %d, want 2 (stderr %q)", args, got, errs.String())
		}
	}
}

// probe-ready answers at once without -wait, and with it as soon as the
// ready file appears or when the wait is over.
func TestProbeReady(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ready")
	var out, errs bytes.Buffer
	if got := probeReady(file, nil, &out, &errs); got != 1 || out.String() != "starting\n" {
		t.Errorf("probe-ready before the file = %d %q, want 1 \"starting\"", got, out.String())
	}
	out.Reset()
	start := time.Now()
	if got := probeReady(file, []string{"-wait", "300ms"}, &out, &errs); got != 1 || out.String() != "starting\n" {
		t.Errorf("probe-ready -wait 300ms with no file = %d %q, want 1 \"starting\"", got, out.String())
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("probe-ready -wait 300ms answered after %v", d)
	}
	time.AfterFunc(200*time.Millisecond, func() { os.WriteFile(file, nil, 0o644) })
	out.Reset()
	if got := probeReady(file, []string{"-wait", "30s"}, &out, &errs); got != 0 || out.String() != "ready\n" {
		t.Errorf("probe-ready -wait 30s as the file appears = %d %q, want 0 \"ready\"", got, out.String())
	}
	for _, args := range [][]string{{"-wait"}, {"-wait", "soon"}, {"-wait", "2h"}, {"x"}} {
		if got := probeReady(file, args, &out, &errs); got != 2 {
			t.Errorf("probe-ready %q = %d, want 2", args, got)
		}
	}
}

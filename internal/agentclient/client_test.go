package agentclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/proto"
)

func unixDialer(p string) agentclient.Dialer {
	return agentclient.DialerFunc(func(ctx context.Context) (agentclient.Stream, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", p)
	})
}

// A silent agent must not hang the client past its context.
func TestContextEndsStuckRequest(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, then say nothing
		}
	}()
	cl := agentclient.New(unixDialer(sock), agentclient.Options{Host: "mute"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = cl.Info(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "nd-agent on mute") {
		t.Errorf("Info from a mute agent = %v, want deadline exceeded naming the host", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestDialErrorNamesHost(t *testing.T) {
	cl := agentclient.New(unixDialer(filepath.Join(t.TempDir(), "none")), agentclient.Options{Host: "droplet7"})
	_, err := cl.Info(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "connecting to nd-agent on droplet7: ") {
		t.Errorf("Info without agent = %v", err)
	}
}

// An agent error arrives as *Error with its code, after the progress
// before it.
func TestRemoteError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(proto.RouteInfo, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(&proto.Info{Protocol: proto.Version, MinProtocol: proto.MinVersion})
	})
	mux.HandleFunc(proto.RouteDeploy, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", proto.ContentTypeLines)
		fmt.Fprintln(w, `{"progress":{"stage":"waiting"}}`)
		fmt.Fprintln(w, `{"error":{"code":"busy","message":"another deploy"}}`)
	})
	mux.HandleFunc(proto.RouteApps, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"error":{"code":"no-docker","message":"dockerd is away"}}`)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()
	cl := agentclient.New(unixDialer(sock), agentclient.Options{Host: "d"})
	var stages []string
	_, err = cl.Deploy(context.Background(), proto.Deploy{App: "a"}, func(p proto.Progress) { stages = append(stages, p.Stage) })
	if !agentclient.IsCode(err, proto.CodeBusy) || err.Error() != "nd-agent on d: another deploy" || len(stages) != 1 {
		t.Errorf("Deploy = %v (progress %v), want busy error after one progress", err, stages)
	}
	_, err = cl.Status(context.Background(), "")
	if !agentclient.IsCode(err, proto.CodeNoDocker) || err.Error() != "cannot reach Docker on d: dockerd is away" {
		t.Errorf("Status = %v, want the no-docker error of the status line", err)
	}
}

func TestReadLines(t *testing.T) {
	var got []string
	raw, err := agentclient.ReadLines(strings.NewReader(`{"progress":{"stage":"a","message":"m"}}`+"\n\n"+`{"reply":{"generation":3}}`+"\n"), func(p proto.Progress) {
		got = append(got, p.Stage+":"+p.Message)
	})
	if err != nil || string(raw) != `{"generation":3}` || fmt.Sprint(got) != "[a:m]" {
		t.Errorf("ReadLines = %s, %v (progress %v)", raw, err, got)
	}
	for _, in := range []string{"", `{"progress":{"stage":"a"}}`, `{}`, `{"progress"`} {
		if _, err := agentclient.ReadLines(strings.NewReader(in), func(proto.Progress) {}); err == nil {
			t.Errorf("ReadLines(%q) succeeded", in)
		}
	}
}

// FuzzReadLines: any body gives a reply, an error or the error of a
// malformed or cut body, never a panic; a reply is valid JSON.
func FuzzReadLines(f *testing.F) {
	for _, s := range []string{
		`{"progress":{"stage":"import"}}` + "\n" + `{"reply":{"paths":[]}}` + "\n",
		`{"error":{"code":"busy","message":"x"}}` + "\n",
		`{"reply":null}`, "\n\n", `{"progress":{}}{"reply":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := agentclient.ReadLines(bytes.NewReader(b), func(proto.Progress) {})
		if err == nil && !json.Valid(raw) {
			t.Errorf("reply %q is no JSON", raw)
		}
	})
}

func TestDemux(t *testing.T) {
	frame := func(stream byte, s string) []byte {
		h := []byte{stream, 0, 0, 0, 0, 0, 0, byte(len(s))}
		return append(h, s...)
	}
	in := append(append(frame(1, "out1 "), frame(2, "err")...), frame(1, "out2")...)
	var out, errb strings.Builder
	if err := agentclient.Demux(bytes.NewReader(in), &out, &errb); err != nil || out.String() != "out1 out2" || errb.String() != "err" {
		t.Errorf("Demux = %v, stdout %q, stderr %q", err, out.String(), errb.String())
	}
	if err := agentclient.Demux(bytes.NewReader(in[:len(in)-2]), io.Discard, io.Discard); err == nil {
		t.Error("Demux of a cut stream succeeded")
	}
}

// FuzzDemux: any exec stream demultiplexes or fails, never panics, and
// what it writes is at most what it read.
func FuzzDemux(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 2, 'h', 'i', 2, 0, 0, 0, 0, 0, 0, 1, '!'})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 3, 'e', 'r', 'r'})
	f.Add([]byte{9, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out, errb bytes.Buffer
		agentclient.Demux(bytes.NewReader(b), &out, &errb)
		if out.Len()+errb.Len() > len(b) {
			t.Errorf("wrote %d bytes from %d", out.Len()+errb.Len(), len(b))
		}
	})
}

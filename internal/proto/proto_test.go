package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type rw struct {
	io.Reader
	io.Writer
}

func TestMessageRoundTrip(t *testing.T) {
	msgs := []struct {
		t    Type
		body any
		into any
	}{
		{TypeHello, &Hello{Protocol: 1, NDVersion: "0.1", Client: "nd-push"}, &Hello{}},
		{TypeWelcome, &Welcome{Protocol: 1, MinProtocol: 1, NDVersion: "0.1", Hostname: "d1",
			Capabilities: Capabilities{Nix: true, StoreDir: "/nix/store", DockerError: "no docker"}, Requests: []Type{TypePing}}, &Welcome{}},
		{TypeQueryMissing, &QueryMissing{Paths: []string{"/nix/store/a", "/nix/store/b"}, Session: "s"}, &QueryMissing{}},
		{TypeMissing, &Missing{Missing: []string{"/nix/store/b"}}, &Missing{}},
		{TypeImport, &Import{Session: "s", Compression: CompressionZstd, Paths: 3}, &Import{}},
		{TypeImported, &Imported{Paths: []string{"/nix/store/b"}, Bytes: 99}, &Imported{}},
		{TypeDeploy, &Deploy{App: "web", Package: "/nix/store/p", PushedBy: "me@laptop", Force: true}, &Deploy{}},
		{TypeProgress, &Progress{Stage: "container", Message: "starting"}, &Progress{}},
		{TypeDeployed, &Deployed{Generation: 4, ContainerID: "abc", Changed: true}, &Deployed{}},
		{TypeStatusReply, &StatusReply{Apps: []AppStatus{{App: "web", Current: 2, Generations: []Generation{{Number: 2, Package: "/nix/store/p", DeployedAt: time.Unix(5, 0).UTC()}}}}}, &StatusReply{}},
		{TypeError, &Error{Code: CodeBusy, Message: "busy"}, &Error{}},
	}
	var buf bytes.Buffer
	c := NewConn(&rw{&buf, &buf})
	for _, m := range msgs {
		if err := c.Send(m.t, m.body); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range msgs {
		if err := c.Expect(m.t, m.into); err != nil {
			t.Fatalf("Expect(%s): %v", m.t, err)
		}
		if d := cmp.Diff(m.body, m.into); d != "" {
			t.Errorf("%s (-sent +got):\n%s", m.t, d)
		}
	}
}

func TestErrorBecomesRemoteError(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(&rw{&buf, &buf})
	c.SendError(CodeBadStream, "export stream offset 5: bad")
	err := c.Expect(TypeImported, &Imported{})
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBadStream || re.Message != "export stream offset 5: bad" {
		t.Fatalf("Expect = %v, want RemoteError invalid-stream", err)
	}
}

func TestDataRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ca, cb := NewConn(a), NewConn(b)
	payload := bytes.Repeat([]byte("0123456789abcdef"), MaxData/16*2+77) // spans 3 frames
	go func() {
		ca.Send(TypeImport, &Import{Compression: CompressionZstd})
		w := ca.DataWriter()
		w.Write(payload[:10])
		w.Write(payload[10:])
		w.Close()
		ca.Send(TypePing, nil)
	}()
	if err := cb.Expect(TypeImport, &Import{}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(cb.DataReader())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("data: got %d bytes, want %d", len(got), len(payload))
	}
	if err := cb.Expect(TypePing, nil); err != nil {
		t.Fatalf("message after data: %v", err)
	}
}

func TestDataCutShort(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(&rw{&buf, &buf})
	w := c.DataWriter()
	w.Write([]byte("hello"))
	// no end frame: the stream just ends
	_, err := io.ReadAll(c.DataReader())
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadAll of data without end = %v, want ErrUnexpectedEOF", err)
	}
}

func TestFrameLimits(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"huge message", hdr(MaxMessage+1, kindMessage), "limit"},
		{"empty message", hdr(0, kindMessage), "message frame of 0 bytes"},
		{"unknown kind", hdr(3, 'X'), "unknown frame kind"},
		{"not json", append(hdr(3, kindMessage), "{{{"...), "decoding message"},
		{"no type", append(hdr(2, kindMessage), "{}"...), "no type"},
		{"short", append(hdr(10, kindMessage), "{}"...), "stream ends early"},
		{"data", hdr(0, kindData), "data frame"},
	}
	for _, tt := range tests {
		c := NewConn(&rw{bytes.NewReader(tt.in), io.Discard})
		if _, err := c.Recv(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Recv = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
	c := NewConn(&rw{bytes.NewReader(hdr(MaxData+1, kindData)), io.Discard})
	if _, err := io.ReadAll(c.DataReader()); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("huge data frame: %v", err)
	}
}

func hdr(n int, kind byte) []byte {
	b := make([]byte, 5)
	binary.BigEndian.PutUint32(b, uint32(n))
	b[4] = kind
	return b
}

func TestHandshakeSkew(t *testing.T) {
	for _, tt := range []struct {
		agent, agentMin int
		want            string
	}{
		{2, 2, "nd-agent on d1 speaks protocol 2 (nd 0.2), this nd-push speaks 1 (nd 0.1): upgrade nd-push"},
		{0, 0, "nd-agent on d1 speaks protocol 0 (nd 0.2), this nd-push speaks 1 (nd 0.1): upgrade nd-agent on d1 to nd 0.1"},
		{2, 1, ""},
	} {
		a, b := net.Pipe()
		go func() {
			cb := NewConn(b)
			cb.Expect(TypeHello, &Hello{})
			cb.Send(TypeWelcome, &Welcome{Protocol: tt.agent, MinProtocol: tt.agentMin, NDVersion: "0.2"})
			b.Close()
		}()
		_, err := NewConn(a).Handshake("d1", Hello{Protocol: 1, NDVersion: "0.1"})
		a.Close()
		if tt.want == "" {
			if err != nil {
				t.Errorf("agent %d..%d: %v, want compatible", tt.agentMin, tt.agent, err)
			}
			continue
		}
		var se *SkewError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("agent %d: Handshake = %v, want %q", tt.agent, err, tt.want)
		}
	}
}

func FuzzRecv(f *testing.F) {
	var buf bytes.Buffer
	c := NewConn(&rw{&buf, &buf})
	c.Send(TypeDeploy, &Deploy{App: "web", Package: "/nix/store/x"})
	c.Send(TypeImport, &Import{Compression: CompressionZstd})
	w := c.DataWriter()
	w.Write([]byte("data"))
	w.Close()
	c.Send(TypeError, &Error{Code: "x", Message: "y"})
	f.Add(buf.Bytes())
	f.Add(hdr(MaxMessage+1, kindMessage))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewConn(&rw{bytes.NewReader(in), io.Discard})
		for i := 0; i < 8; i++ {
			env, err := c.Recv()
			if err != nil {
				if _, err := io.Copy(io.Discard, io.LimitReader(c.DataReader(), MaxData*4)); err != nil {
					return
				}
				continue
			}
			var d Deploy
			Decode(env, env.Type, &d)
		}
	})
}

package agentclient_test

import (
	"context"
	"errors"
	"net"
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
	_, err = cl.Ping(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "nd-agent on mute") {
		t.Errorf("Ping to a mute agent = %v, want deadline exceeded naming the host", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestDialErrorNamesHost(t *testing.T) {
	cl := agentclient.New(unixDialer(filepath.Join(t.TempDir(), "none")), agentclient.Options{Host: "droplet7"})
	_, err := cl.Ping(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "connecting to nd-agent on droplet7: ") {
		t.Errorf("Ping without agent = %v", err)
	}
}

// An agent error arrives as *Error with its code.
func TestRemoteError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		pc := proto.NewConn(c)
		pc.Expect(proto.TypeHello, &proto.Hello{})
		pc.Send(proto.TypeWelcome, &proto.Welcome{Protocol: proto.Version, MinProtocol: proto.MinVersion})
		pc.Recv()
		pc.Send(proto.TypeProgress, &proto.Progress{Stage: "waiting"})
		pc.SendError(proto.CodeBusy, "another deploy")
	}()
	cl := agentclient.New(unixDialer(sock), agentclient.Options{Host: "d"})
	var stages []string
	_, err = cl.Deploy(context.Background(), proto.Deploy{App: "a"}, func(p proto.Progress) { stages = append(stages, p.Stage) })
	if !agentclient.IsCode(err, proto.CodeBusy) || err.Error() != "nd-agent on d: another deploy" || len(stages) != 1 {
		t.Errorf("Deploy = %v (progress %v), want busy error after one progress", err, stages)
	}
}

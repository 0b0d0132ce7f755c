package agentclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nd-project/nd/internal/proto"
)

// ExecIO is the local side of an Exec.
type ExecIO struct {
	Stdin  io.Reader // read only if the request has Stdin
	Stdout io.Writer
	Stderr io.Writer
	// Resize, if set, delivers terminal size changes to pass on.
	Resize <-chan proto.Resize
}

// Exec runs req.Cmd in req.App's container and returns its exit code. The
// request upgrades a connection of its own (as Docker's exec does) that
// then carries the command's stdin and output as they are; resizes and the
// exit code are requests of their own.
func (cl *Client) Exec(ctx context.Context, req proto.Exec, stdio ExecIO) (int, error) {
	if _, err := cl.Info(ctx); err != nil {
		return -1, err
	}
	body, err := json.Marshal(&req)
	if err != nil {
		return -1, fmt.Errorf("encoding the request: %w", err)
	}
	hr, err := cl.newRequest(ctx, request{method: http.MethodPost, path: appPath(req.App, "exec"), body: bytes.NewReader(body), contentType: proto.ContentTypeJSON})
	if err != nil {
		return -1, err
	}
	hr.Header.Set("Connection", "Upgrade")
	hr.Header.Set("Upgrade", proto.ExecUpgrade)
	conn, err := cl.dial(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := hr.Write(conn); err != nil {
		return -1, cl.wrap(ctx, fmt.Errorf("sending exec: %w", err))
	}
	br := bufio.NewReaderSize(conn, 32<<10)
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		return -1, cl.wrap(ctx, fmt.Errorf("starting exec: %w", err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var l proto.Line
		if json.Unmarshal(b, &l) == nil && l.Error != nil {
			return -1, cl.remote(l.Error)
		}
		return -1, fmt.Errorf("nd-agent on %s: exec: %s", cl.opts.Host, resp.Status)
	}
	id := resp.Header.Get(proto.ExecIDHeader)
	if req.Stdin {
		go func() {
			if stdio.Stdin != nil {
				io.Copy(conn, stdio.Stdin)
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	if stdio.Resize != nil {
		done := make(chan struct{})
		defer close(done)
		go cl.resizes(ctx, id, stdio.Resize, done)
	}
	stdout, stderr := orDiscard(stdio.Stdout), orDiscard(stdio.Stderr)
	if resp.Header.Get("Content-Type") == proto.ContentTypeMultiplexedStream {
		err = Demux(br, stdout, stderr)
	} else {
		_, err = io.Copy(stdout, br)
	}
	if err != nil {
		return -1, cl.wrap(ctx, fmt.Errorf("exec output: %w", err))
	}
	return cl.execExit(ctx, id)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// resizes passes terminal sizes on until done.
func (cl *Client) resizes(ctx context.Context, id string, ch <-chan proto.Resize, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case rs, ok := <-ch:
			if !ok {
				return
			}
			r, err := jsonRequest(http.MethodPost, "/v1/execs/"+url.PathEscape(id)+"/resize", &rs)
			if err == nil {
				err = cl.call(ctx, r, nil, nil)
			}
			if err != nil {
				cl.log.Debug("resizing exec terminal", "error", err)
			}
		}
	}
}

// execExit asks for the exit code of an exec whose output ended; the
// command may take a moment to be reported ended.
func (cl *Client) execExit(ctx context.Context, id string) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var x proto.ExecExited
		if err := cl.call(ctx, request{method: http.MethodGet, path: "/v1/execs/" + url.PathEscape(id)}, &x, nil); err != nil {
			return -1, err
		}
		if !x.Running {
			return x.Code, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("nd-agent on %s: the command's output ended but it still runs", cl.opts.Host)
		}
		select {
		case <-ctx.Done():
			return -1, cl.wrap(ctx, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Demux copies Docker's multiplexed stream (a header of 8 bytes — the
// stream, 3 zero bytes, a big-endian length — before each piece) from r to
// stdout and stderr. Stream 3 is an error of the daemon's.
func Demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	buf := make([]byte, 32<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		var w io.Writer
		switch hdr[0] {
		case 0, 1:
			w = stdout
		case 2:
			w = stderr
		case 3:
			var msg strings.Builder
			io.CopyN(&msg, r, min(n, 64<<10))
			return fmt.Errorf("docker: %s", msg.String())
		default:
			return fmt.Errorf("multiplexed stream: unknown stream %d", hdr[0])
		}
		if k, err := io.CopyBuffer(w, io.LimitReader(r, n), buf); err != nil {
			return err
		} else if k < n {
			return fmt.Errorf("multiplexed stream: a piece ends early: %w", io.ErrUnexpectedEOF)
		}
	}
}

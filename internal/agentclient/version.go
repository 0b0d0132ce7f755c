package agentclient

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"
)

// SkewError is an API version mismatch, named for the user.
type SkewError struct {
	Host          string // as the user named it
	Agent         int    // the agent's API version
	AgentMin      int
	Client        int
	AgentVersion  string
	ClientVersion string
}

func (e *SkewError) Error() string {
	msg := fmt.Sprintf("nd-agent on %s speaks protocol %d (nd %s), this nd-push speaks %d (nd %s)",
		e.Host, e.Agent, e.AgentVersion, e.Client, e.ClientVersion)
	if e.Agent > e.Client {
		return msg + ": upgrade nd-push to the release of that nd-agent or newer"
	}
	return msg + ": upgrade nd-agent on " + e.Host + " to nd " + e.ClientVersion
}

// Compatible reports whether a client speaking client can talk to an agent
// that speaks agent and still serves agentMin.
func Compatible(client, agent, agentMin int) bool {
	return client <= agent && client >= agentMin
}

// OldAgentError is an agent that predates the HTTP API (it speaks the
// framed protocol 2): install-agent replaces it.
type OldAgentError struct {
	Host         string
	AgentVersion string // its nd version, as it said
}

func (e *OldAgentError) Error() string {
	return fmt.Sprintf("nd-agent on %s is older than this nd-push; run nd-push install-agent %s", e.Host, e.Host)
}

// probeLegacy asks, in the framed protocol of agents before the HTTP API,
// whether such an agent serves the socket: a hello frame, answered by a
// welcome frame. It returns nil for anything else. The framing is kept
// here only to recognise those agents (a frame: 4-byte big-endian length,
// kind byte 'M', a JSON {type, body}).
func (cl *Client) probeLegacy(ctx context.Context) *OldAgentError {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := cl.d.Dial(ctx)
	if err != nil {
		return nil
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	hello, _ := json.Marshal(map[string]any{"type": "hello", "body": map[string]any{"protocol": 2, "ndVersion": cl.opts.NDVersion, "client": "nd-push"}})
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(hello)))
	hdr[4] = 'M'
	if _, err := s.Write(append(hdr[:], hello...)); err != nil {
		return nil
	}
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return nil
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if hdr[4] != 'M' || n == 0 || n > 1<<20 {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s, b); err != nil {
		return nil
	}
	var env struct {
		Type string `json:"type"`
		Body struct {
			NDVersion string `json:"ndVersion"`
		} `json:"body"`
	}
	if json.Unmarshal(b, &env) != nil || env.Type != "welcome" {
		return nil
	}
	cl.log.Debug("the agent speaks the framed protocol", "ndVersion", env.Body.NDVersion)
	return &OldAgentError{Host: cl.opts.Host, AgentVersion: env.Body.NDVersion}
}

// asConn makes s a net.Conn for http.Transport: an SSH channel has no
// addresses or deadlines (cancelling a request closes it instead).
func asConn(s Stream) net.Conn {
	if c, ok := s.(net.Conn); ok {
		return c
	}
	return streamConn{s}
}

type streamConn struct{ Stream }

type streamAddr struct{}

func (streamAddr) Network() string { return "nd-agent" }
func (streamAddr) String() string  { return "nd-agent" }

func (streamConn) LocalAddr() net.Addr                { return streamAddr{} }
func (streamConn) RemoteAddr() net.Addr               { return streamAddr{} }
func (streamConn) SetDeadline(t time.Time) error      { return nil }
func (streamConn) SetReadDeadline(t time.Time) error  { return nil }
func (streamConn) SetWriteDeadline(t time.Time) error { return nil }

// CloseWrite half-closes the stream when it can (an exec's stdin ends).
func (c streamConn) CloseWrite() error {
	if cw, ok := c.Stream.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

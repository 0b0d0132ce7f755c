// Package agentclient is nd-push's only way to talk to nd-agent: an
// http.Client of the agent's API (internal/proto) whose connections are
// opened by a Dialer (SSH channels in nd-push, a unix socket in tests). It
// asks the agent's version and capabilities once (Info), turns replies and
// remote errors into Go values, and never imports SSH or Docker code.
package agentclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nd-project/nd/internal/proto"
)

// Stream is one bidirectional byte stream to the agent (a net.Conn or an
// SSH channel): one HTTP connection.
type Stream = io.ReadWriteCloser

// Dialer opens a fresh connection to the agent's socket: in nd-push an SSH
// direct-streamlocal channel, or an exec channel running `nd-agent
// dial-stdio`. Connections are kept alive and reused between requests;
// requests in parallel get their own.
type Dialer interface {
	Dial(ctx context.Context) (Stream, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context) (Stream, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context) (Stream, error) { return f(ctx) }

// Options configure a Client.
type Options struct {
	Host      string // how the user named the host, for messages
	NDVersion string // this nd-push's version
	Log       hclog.Logger
}

// baseURL is what requests name; the Dialer decides where they go.
const baseURL = "http://nd-agent"

// Client talks to one agent. Safe for concurrent use.
type Client struct {
	d    Dialer
	opts Options
	log  hclog.Logger
	hc   *http.Client
	tr   *http.Transport

	mu   sync.Mutex
	info *proto.Info
}

// New makes a Client that dials through d.
func New(d Dialer, opts Options) *Client {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Host == "" {
		opts.Host = "the host"
	}
	cl := &Client{d: d, opts: opts, log: opts.Log}
	cl.tr = &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return cl.dial(ctx) },
		DisableCompression:  true,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
	}
	// The agent never redirects: a redirect is a path it cleaned (an
	// empty app name), to be shown, not followed.
	cl.hc = &http.Client{Transport: cl.tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return cl
}

// Close drops the connections kept for later requests.
func (cl *Client) Close() error {
	cl.tr.CloseIdleConnections()
	return nil
}

// dialError is a failure to reach the agent at all.
type dialError struct {
	host string
	err  error
}

func (e *dialError) Error() string {
	return fmt.Sprintf("connecting to nd-agent on %s: %v", e.host, e.err)
}
func (e *dialError) Unwrap() error { return e.err }

func (cl *Client) dial(ctx context.Context) (net.Conn, error) {
	s, err := cl.d.Dial(ctx)
	if err != nil {
		return nil, &dialError{cl.opts.Host, err}
	}
	return asConn(s), nil
}

// Error is a failure reported by the agent.
type Error struct {
	Host    string
	Code    string // a proto.Code* value
	Message string
}

func (e *Error) Error() string {
	if e.Code == proto.CodeNoDocker {
		return fmt.Sprintf("cannot reach Docker on %s: %s", e.Host, e.Message)
	}
	return fmt.Sprintf("nd-agent on %s: %s", e.Host, e.Message)
}

// IsCode reports whether err is an agent Error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsRemote reports whether err was reported by the agent.
func IsRemote(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// wrap names the host in errors and prefers the context's error when the
// request ended because ctx did.
func (cl *Client) wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("nd-agent on %s: %w", cl.opts.Host, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		de *dialError
		se *SkewError
		oe *OldAgentError
		re *Error
	)
	if errors.As(err, &de) || errors.As(err, &se) || errors.As(err, &oe) || errors.As(err, &re) {
		return err
	}
	return fmt.Errorf("nd-agent on %s: %w", cl.opts.Host, err)
}

// remote makes the Error of a Line.
func (cl *Client) remote(e *proto.Error) error {
	return &Error{Host: cl.opts.Host, Code: e.Code, Message: e.Message}
}

// request is one API request.
type request struct {
	method, path string
	query        url.Values
	body         io.Reader // nil: none
	contentType  string
	encoding     string // Content-Encoding of body
}

// jsonRequest has v (if not nil) as its JSON body.
func jsonRequest(method, path string, v any) (request, error) {
	r := request{method: method, path: path}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return r, fmt.Errorf("encoding the request: %w", err)
		}
		r.body, r.contentType = bytes.NewReader(b), proto.ContentTypeJSON
	}
	return r, nil
}

func (cl *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, r.body)
	if err != nil {
		return nil, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.encoding != "" {
		req.Header.Set("Content-Encoding", r.encoding)
	}
	req.Header.Set("User-Agent", "nd-push/"+cl.opts.NDVersion)
	return req, nil
}

// send makes the request after Info, and returns the response of a
// success; an error status becomes the agent's *Error.
func (cl *Client) send(ctx context.Context, r request) (*http.Response, error) {
	if _, err := cl.Info(ctx); err != nil {
		return nil, err
	}
	return cl.roundTrip(ctx, r)
}

func (cl *Client) roundTrip(ctx context.Context, r request) (*http.Response, error) {
	req, err := cl.newRequest(ctx, r)
	if err != nil {
		return nil, cl.wrap(ctx, err)
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return nil, cl.wrap(ctx, err)
	}
	if err := cl.checkStatus(resp, r); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkStatus turns an error status into the agent's *Error (closing the
// body then).
func (cl *Client) checkStatus(resp *http.Response, r request) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var l proto.Line
	if json.Unmarshal(b, &l) == nil && l.Error != nil {
		return cl.remote(l.Error)
	}
	return fmt.Errorf("nd-agent on %s: %s %s: %s: %s", cl.opts.Host, r.method, r.path, resp.Status, strings.TrimSpace(string(b)))
}

// call makes the request and decodes its reply into reply (if not nil),
// passing progress on.
func (cl *Client) call(ctx context.Context, r request, reply any, progress func(proto.Progress)) error {
	resp, err := cl.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return cl.wrap(ctx, cl.readReply(resp, reply, progress))
}

// readReply reads a reply body: JSON, or JSON lines ending in the reply.
func (cl *Client) readReply(resp *http.Response, reply any, progress func(proto.Progress)) error {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), proto.ContentTypeLines) {
		if reply == nil {
			return nil
		}
		if err := json.NewDecoder(resp.Body).Decode(reply); err != nil {
			return fmt.Errorf("decoding the reply: %w", err)
		}
		return nil
	}
	raw, err := ReadLines(resp.Body, func(p proto.Progress) {
		cl.log.Debug("agent progress", "stage", p.Stage, "message", p.Message)
		if progress != nil {
			progress(p)
		}
	})
	var pe *proto.Error
	if errors.As(err, &pe) {
		return cl.remote(pe)
	}
	if err != nil {
		return err
	}
	if reply == nil {
		return nil
	}
	if err := json.Unmarshal(raw, reply); err != nil {
		return fmt.Errorf("decoding the reply: %w", err)
	}
	return nil
}

// maxLine bounds one line of a JSON-lines reply.
const maxLine = 4 << 20

// ReadLines reads a JSON-lines reply (proto.Line a line) from r, giving
// progress to progress, and returns the last line's reply; an error line
// is returned as a *proto.Error. A body that ends before its reply is an
// error.
func ReadLines(r io.Reader, progress func(proto.Progress)) (json.RawMessage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var l proto.Line
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("decoding a reply line: %w", err)
		}
		switch {
		case l.Error != nil:
			return nil, l.Error
		case l.Reply != nil:
			return l.Reply, nil
		case l.Progress != nil:
			progress(*l.Progress)
		default:
			return nil, fmt.Errorf("a reply line without progress, reply or error: %.100q", b)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	return nil, fmt.Errorf("reading the reply: %w", io.ErrUnexpectedEOF)
}

// Info returns the agent's versions and capabilities, asking the agent the
// first time only (Docker's state in it is that of the first ask). An agent
// of another API version is an error saying which side to upgrade.
func (cl *Client) Info(ctx context.Context) (proto.Info, error) {
	cl.mu.Lock()
	if cl.info != nil {
		defer cl.mu.Unlock()
		return *cl.info, nil
	}
	cl.mu.Unlock()
	var info proto.Info
	resp, err := cl.roundTrip(ctx, request{method: http.MethodGet, path: "/v1/info"})
	if err != nil {
		var de *dialError
		if ctx.Err() == nil && !errors.As(err, &de) && !IsRemote(err) {
			// No HTTP answer at all: an agent of the framed protocol
			// closes the connection on the request line.
			if old := cl.probeLegacy(ctx); old != nil {
				return info, old
			}
		}
		return info, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, cl.wrap(ctx, fmt.Errorf("decoding its info: %w", err))
	}
	if !Compatible(proto.Version, info.Protocol, info.MinProtocol) {
		return info, &SkewError{Host: cl.opts.Host, Agent: info.Protocol, AgentMin: info.MinProtocol, Client: proto.Version,
			AgentVersion: info.NDVersion, ClientVersion: cl.opts.NDVersion}
	}
	cl.mu.Lock()
	cl.info = &info
	cl.mu.Unlock()
	return info, nil
}

// Status returns the deployed apps (app "" = all) as `nd-push status
// --json` shows them.
func (cl *Client) Status(ctx context.Context, app string) (proto.Apps, error) {
	var r proto.Apps
	path := "/v1/apps"
	if app != "" {
		path += "/" + url.PathEscape(app)
	}
	err := cl.call(ctx, request{method: http.MethodGet, path: path}, &r, nil)
	return r, err
}

// QueryMissing returns which of paths the host lacks, in one round trip.
// With a session, the host keeps the paths it has until the session's
// Deploy.
func (cl *Client) QueryMissing(ctx context.Context, session string, paths []string) ([]string, error) {
	r, err := cl.Missing(ctx, proto.QueryMissing{Paths: paths, Session: session})
	return r.Missing, err
}

// Missing is QueryMissing with every field of the request (q.Substitute:
// let the host substitute first) and the whole answer.
func (cl *Client) Missing(ctx context.Context, q proto.QueryMissing) (proto.Missing, error) {
	var r proto.Missing
	req, err := jsonRequest(http.MethodPost, "/v1/store/query-missing", &q)
	if err != nil {
		return r, err
	}
	err = cl.call(ctx, req, &r, nil)
	return r, err
}

// Realise has the host build req.Drv (sent before with Import) and returns
// its outputs; progress receives the agent's build stage.
func (cl *Client) Realise(ctx context.Context, req proto.Realise, progress func(proto.Progress)) (proto.Realised, error) {
	var r proto.Realised
	hr, err := jsonRequest(http.MethodPost, "/v1/store/realise", &req)
	if err != nil {
		return r, err
	}
	err = cl.call(ctx, hr, &r, progress)
	return r, err
}

// Deploy asks the agent to deploy; progress (may be nil) gets its steps.
func (cl *Client) Deploy(ctx context.Context, req proto.Deploy, progress func(proto.Progress)) (proto.Deployed, error) {
	var r proto.Deployed
	hr, err := jsonRequest(http.MethodPost, appPath(req.App, "deploy"), &req)
	if err != nil {
		return r, err
	}
	err = cl.call(ctx, hr, &r, progress)
	return r, err
}

// appPath is /v1/apps/APP/OP.
func appPath(app, op string) string {
	p := "/v1/apps/" + url.PathEscape(app)
	if op != "" {
		p += "/" + op
	}
	return p
}

package agentclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nd-project/nd/internal/proto"
)

// Rollback makes req.App run an earlier generation again (see
// proto.Rollback); progress (may be nil) gets the agent's steps.
func (cl *Client) Rollback(ctx context.Context, req proto.Rollback, progress func(proto.Progress)) (proto.Deployed, error) {
	var r proto.Deployed
	hr, err := jsonRequest(http.MethodPost, appPath(req.App, "rollback"), &req)
	if err != nil {
		return r, err
	}
	err = cl.call(ctx, hr, &r, progress)
	return r, err
}

// Remove deletes an app from the host (see proto.Remove).
func (cl *Client) Remove(ctx context.Context, req proto.Remove, progress func(proto.Progress)) (proto.Removed, error) {
	var r proto.Removed
	hr := request{method: http.MethodDelete, path: appPath(req.App, "")}
	if req.Volumes {
		hr.query = url.Values{"volumes": {"1"}}
	}
	err := cl.call(ctx, hr, &r, progress)
	return r, err
}

// Logs copies the output of req.App's container to w. With req.Follow it
// returns when ctx ends (then with ctx's error).
func (cl *Client) Logs(ctx context.Context, req proto.Logs, w io.Writer) error {
	q := url.Values{"tail": {strconv.Itoa(req.Tail)}}
	if req.Follow {
		q.Set("follow", "1")
	}
	if req.Timestamps {
		q.Set("timestamps", "1")
	}
	if req.Since != 0 {
		q.Set("since", strconv.FormatInt(req.Since, 10))
	}
	resp, err := cl.send(ctx, request{method: http.MethodGet, path: appPath(req.App, "logs"), query: q})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return cl.wrap(ctx, fmt.Errorf("reading the logs of %s: %w", req.App, err))
	}
	return nil
}

// Lifecycle restarts, stops or starts req.App's container.
func (cl *Client) Lifecycle(ctx context.Context, op proto.Action, req proto.AppOp, progress func(proto.Progress)) (proto.AppState, error) {
	var r proto.AppState
	err := cl.call(ctx, request{method: http.MethodPost, path: appPath(req.App, string(op))}, &r, progress)
	return r, err
}

// Check has the agent check (and with repair, fix) its state.
func (cl *Client) Check(ctx context.Context, repair bool) (proto.CheckReport, error) {
	var r proto.CheckReport
	hr, err := jsonRequest(http.MethodPost, "/v1/check", &proto.Check{Repair: repair})
	if err != nil {
		return r, err
	}
	err = cl.call(ctx, hr, &r, nil)
	return r, err
}

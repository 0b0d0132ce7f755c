package proto

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[string]int{
		CodeBadRequest: http.StatusBadRequest, CodeBadStream: http.StatusBadRequest, CodeNotFound: http.StatusNotFound,
		CodeBusy: http.StatusConflict, CodeLayersGone: http.StatusConflict, CodeNoDocker: http.StatusServiceUnavailable,
		CodeNoNix: http.StatusServiceUnavailable, CodeNoSpace: http.StatusInsufficientStorage,
		CodeUnsupported: http.StatusNotImplemented, CodeBuild: http.StatusUnprocessableEntity,
		CodeDeploy: http.StatusInternalServerError, CodeInternal: http.StatusInternalServerError, "new-code": http.StatusInternalServerError,
	} {
		if got := HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
}

// A line carries exactly the field it holds: readers tell them apart by
// which is present.
func TestLineJSON(t *testing.T) {
	for _, tc := range []struct {
		l    Line
		want string
	}{
		{Line{Progress: &Progress{Stage: "image"}}, `{"progress":{"stage":"image"}}`},
		{Line{Reply: json.RawMessage(`{"generation":2}`)}, `{"reply":{"generation":2}}`},
		{Line{Error: &Error{Code: CodeBusy, Message: "m"}}, `{"error":{"code":"busy","message":"m"}}`},
	} {
		b, err := json.Marshal(tc.l)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.l, b, err, tc.want)
		}
	}
}

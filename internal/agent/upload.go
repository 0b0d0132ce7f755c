package agent

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/nd-project/nd/internal/proto"
)

// checkEncoding refuses an upload that is not zstd-compressed.
func checkEncoding(r *http.Request, what string) error {
	if enc := r.Header.Get("Content-Encoding"); enc != proto.CompressionZstd {
		return codef(proto.CodeBadRequest, "%s: Content-Encoding %q, want %q", what, enc, proto.CompressionZstd)
	}
	return nil
}

// importRequest reads RouteImport's query parameters.
func importRequest(r *http.Request) (proto.Import, error) {
	q := r.URL.Query()
	req := proto.Import{Session: q.Get("session")}
	if err := checkEncoding(r, "import"); err != nil {
		return req, err
	}
	var err error
	if req.Paths, err = strconv.Atoi(q.Get("paths")); err != nil {
		return req, codef(proto.CodeBadRequest, "import: bad paths %q", q.Get("paths"))
	}
	if v := q.Get("narBytes"); v != "" {
		if req.NarBytes, err = strconv.ParseInt(v, 10, 64); err != nil || req.NarBytes < 0 {
			return req, codef(proto.CodeBadRequest, "import: bad narBytes %q", v)
		}
	}
	return req, nil
}

// deployImageRequest reads a ContentTypeDeployImage body's request line and
// returns the rest, the layers' zstd stream, unread.
func deployImageRequest(c *call) (proto.DeployImage, io.Reader, error) {
	var req proto.DeployImage
	if err := checkEncoding(c.r, "deploy-image"); err != nil {
		return req, nil, err
	}
	br := bufio.NewReaderSize(c.upload(), 64<<10)
	line, err := readLine(br, maxRequestBody)
	if err != nil {
		return req, nil, codef(proto.CodeBadRequest, "deploy-image: reading the request: %v", err)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return req, nil, codef(proto.CodeBadRequest, "deploy-image: decoding the request: %v", err)
	}
	req.App = c.r.PathValue("app")
	return req, br, nil
}

// readLine reads one line of at most max bytes, without its newline.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		part, isPrefix, err := br.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, part...)
		if len(line) > max {
			return nil, codef(proto.CodeBadRequest, "a line of over %d bytes", max)
		}
		if !isPrefix {
			return line, nil
		}
	}
}

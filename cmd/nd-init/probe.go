package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// probeOptions are probe-http's knobs that are not on its command line.
type probeOptions struct {
	Timeout time.Duration // whole probe; 0: 5s
}

// runProbeHTTP implements `nd-init probe-http PORT [PATH]`: exit 0 when
// GET http://127.0.0.1:PORT/PATH answers 2xx or 3xx in time, else 1.
//
// It speaks just enough HTTP/1.1 by hand: net/http would triple the size of a
// binary that every container carries.
func runProbeHTTP(args []string, opts probeOptions, stdout, stderr io.Writer) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: nd-init probe-http PORT [PATH]")
		return 2
	}
	port, err := strconv.Atoi(args[0])
	if err != nil || port < 1 || port > 65535 {
		fmt.Fprintf(stderr, "probe-http: bad port %q\n", args[0])
		return 2
	}
	path := "/"
	if len(args) == 2 {
		path = args[1]
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	status, err := probeHTTP(ctx, port, path)
	if err != nil {
		fmt.Fprintf(stderr, "probe-http: %v\n", err)
		return 1
	}
	if status < 200 || status > 399 {
		fmt.Fprintf(stdout, "probe-http: status %d\n", status)
		return 1
	}
	fmt.Fprintf(stdout, "probe-http: status %d\n", status)
	return 0
}

// probeHTTP sends GET path to 127.0.0.1:port (or [::1]:port if nothing
// listens there) and returns the response's status code.
func probeHTTP(ctx context.Context, port int, path string) (int, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if strings.ContainsAny(path, " \r\n") {
		return 0, fmt.Errorf("bad path %q", path)
	}
	var d net.Dialer
	p := strconv.Itoa(port)
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", p))
	if err != nil {
		var err6 error
		conn, err6 = d.DialContext(ctx, "tcp", net.JoinHostPort("::1", p))
		if err6 != nil {
			return 0, fmt.Errorf("connecting: %w", err)
		}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl) //nolint:errcheck // a TCP conn always takes a deadline
	}
	host := conn.RemoteAddr().String()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: nd-init-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, fmt.Errorf("sending request: %w", err)
	}
	line, err := bufio.NewReaderSize(conn, 4096).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("reading response: %w", err)
	}
	// "HTTP/1.1 200 OK"
	proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/") || err != nil || len(code) != 3 {
		return 0, errors.New("reading response: not an HTTP status line: " + strconv.Quote(line))
	}
	return status, nil
}

package portswitch

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestRelay6 relays an IPv6 client of a port to the IPv4 listener on
// 127.0.0.1 at the same port (standing in for the port's DNAT rule), with
// half-closes passed on both ways, and lets go of the port when the app's
// ports change.
func TestRelay6(t *testing.T) {
	// The app: reads everything, then answers with what it read, upper-cased.
	app, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
	port := app.Addr().(*net.TCPAddr).Port
	r := NewRelay6(nil)
	r.Set("web", []int{port})
	if !r.Holds("web", port) || r.Holds("other", port) {
		t.Fatalf("Holds(web, %d) = %v, Holds(other) = %v", port, r.Holds("web", port), r.Holds("other", port))
	}
	addr := net.JoinHostPort("::1", strconv.Itoa(port))
	c, err := net.Dial("tcp6", addr)
	if err != nil {
		t.Fatalf("dialing the relay: %v", err)
	}
	c.Write([]byte("hello over ipv6"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(bufio.NewReader(c))
	c.Close()
	if err != nil || string(got) != "HELLO OVER IPV6" {
		t.Fatalf("relayed answer %q, %v", got, err)
	}

	r.Set("web", nil)
	if r.Holds("web", port) {
		t.Fatal("the relay still holds the port after the app let go of it")
	}
	if c, err := net.Dial("tcp6", addr); err == nil {
		c.Close()
		t.Fatal("the relay still accepts after the app let go of the port")
	}
}

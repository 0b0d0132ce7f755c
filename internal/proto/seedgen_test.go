package proto

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the committed fuzz seeds in testdata/fuzz")

func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		return
	}
	stream := func(f func(c *Conn)) []byte {
		var buf bytes.Buffer
		f(NewConn(&rw{&buf, &buf}))
		return buf.Bytes()
	}
	seeds := map[string][]byte{
		"hello": stream(func(c *Conn) { c.Send(TypeHello, &Hello{Protocol: 1, NDVersion: "0.1"}) }),
		"import-data": stream(func(c *Conn) {
			c.Send(TypeImport, &Import{Compression: CompressionZstd, Paths: 2})
			w := c.DataWriter()
			w.Write([]byte("zstd bytes"))
			w.Close()
		}),
		"error":     stream(func(c *Conn) { c.SendError(CodeBusy, "busy") }),
		"too-big":   hdr(MaxMessage+1, kindMessage),
		"bad-kind":  hdr(1, 0),
		"truncated": stream(func(c *Conn) { c.Send(TypeDeploy, &Deploy{App: "web"}) })[:9],
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRecv")
	os.MkdirAll(dir, 0o755)
	for name, b := range seeds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

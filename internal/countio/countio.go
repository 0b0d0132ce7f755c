// Package countio counts the bytes that pass through a writer, for sizes
// checked after writing (image layers, archives) and for progress (the
// bytes of a transfer so far). It imports nothing of nd; anyone may use it.
package countio

import "io"

// Writer passes writes on to W and counts the bytes W took.
type Writer struct {
	W io.Writer
	// N is the number of bytes written so far.
	N int64
	// OnWrite, if set, gets N after every write (a progress display).
	OnWrite func(n int64)
	// Err is the first error W returned: the stream broke there, whatever
	// the caller did with the error later.
	Err error
}

var _ io.Writer = (*Writer)(nil)

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	if err != nil && c.Err == nil {
		c.Err = err
	}
	c.N += int64(n)
	if c.OnWrite != nil {
		c.OnWrite(c.N)
	}
	return n, err
}

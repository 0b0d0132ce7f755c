package proto

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Frame limits.
const (
	MaxMessage = 1 << 20
	MaxData    = 1 << 20
)

const (
	kindMessage byte = 'M'
	kindData    byte = 'D'
)

// Conn reads and writes frames on one stream. Reads and writes may happen
// concurrently with each other; each direction is for one goroutine at a
// time.
type Conn struct {
	r  *bufio.Reader
	w  io.Writer
	wm sync.Mutex
	// inData: a data sequence is being read; dataLeft bytes of the current
	// data frame remain.
	dataLeft int
	dataEOF  bool
	hdr      [5]byte
}

// NewConn frames rw.
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{r: bufio.NewReaderSize(rw, 64<<10), w: rw}
}

func (c *Conn) writeFrame(kind byte, payload []byte) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)))
	hdr[4] = kind
	if _, err := c.w.Write(hdr[:]); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := c.w.Write(payload)
	return err
}

// Send writes one message.
func (c *Conn) Send(t Type, body any) error {
	var raw json.RawMessage
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s message: %w", t, err)
		}
		raw = b
	}
	b, err := json.Marshal(Envelope{Type: t, Body: raw})
	if err != nil {
		return fmt.Errorf("encoding %s message: %w", t, err)
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("sending %s message: %d bytes, limit %d", t, len(b), MaxMessage)
	}
	if err := c.writeFrame(kindMessage, b); err != nil {
		return fmt.Errorf("sending %s message: %w", t, err)
	}
	return nil
}

// SendError writes an Error message.
func (c *Conn) SendError(code, msg string) error {
	return c.Send(TypeError, Error{Code: code, Message: msg})
}

// readHeader reads a frame header and checks its limits.
func (c *Conn) readHeader() (kind byte, n int, err error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, fmt.Errorf("reading frame header: stream ends early")
		}
		return 0, 0, err // io.EOF: the stream ended between frames
	}
	n64 := binary.BigEndian.Uint32(c.hdr[:4])
	kind = c.hdr[4]
	switch kind {
	case kindMessage:
		if n64 == 0 || n64 > MaxMessage {
			return 0, 0, fmt.Errorf("message frame of %d bytes (limit %d)", n64, MaxMessage)
		}
	case kindData:
		if n64 > MaxData {
			return 0, 0, fmt.Errorf("data frame of %d bytes (limit %d)", n64, MaxData)
		}
	default:
		return 0, 0, fmt.Errorf("unknown frame kind %#x", kind)
	}
	return kind, int(n64), nil
}

// Recv reads the next message. It fails on a data frame.
func (c *Conn) Recv() (Envelope, error) {
	var env Envelope
	kind, n, err := c.readHeader()
	if err != nil {
		return env, err
	}
	if kind != kindMessage {
		return env, fmt.Errorf("got a data frame, want a message")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return env, fmt.Errorf("reading message: stream ends early: %w", err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return env, fmt.Errorf("decoding message: %w", err)
	}
	if env.Type == "" {
		return env, fmt.Errorf("decoding message: no type")
	}
	return env, nil
}

// Decode unmarshals env's body into v, failing if env is not of type t. An
// Error message becomes a *RemoteError.
func Decode(env Envelope, t Type, v any) error {
	if env.Type == TypeError && t != TypeError {
		var e Error
		if err := json.Unmarshal(env.Body, &e); err != nil {
			return fmt.Errorf("decoding error message: %w", err)
		}
		return &RemoteError{Code: e.Code, Message: e.Message}
	}
	if env.Type != t {
		return fmt.Errorf("got %s message, want %s", env.Type, t)
	}
	if v == nil {
		return nil
	}
	if len(env.Body) == 0 {
		return fmt.Errorf("%s message without body", t)
	}
	if err := json.Unmarshal(env.Body, v); err != nil {
		return fmt.Errorf("decoding %s message: %w", t, err)
	}
	return nil
}

// Expect reads the next message and decodes it as type t into v.
func (c *Conn) Expect(t Type, v any) error {
	env, err := c.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("waiting for %s: stream closed", t)
		}
		return fmt.Errorf("waiting for %s: %w", t, err)
	}
	return Decode(env, t, v)
}

// DataWriter returns a writer that sends data frames; Close sends the end
// frame (it does not close the stream).
func (c *Conn) DataWriter() io.WriteCloser { return &dataWriter{c: c} }

type dataWriter struct {
	c      *Conn
	closed bool
}

func (w *dataWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("write after end of data")
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), MaxData)
		if err := w.c.writeFrame(kindData, p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (w *dataWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.c.writeFrame(kindData, nil)
}

// DataReader returns a reader of the data frames that follow; it returns
// io.EOF at the end frame. A message frame or a closed stream in their
// midst is an error.
func (c *Conn) DataReader() io.Reader {
	c.dataLeft, c.dataEOF = 0, false
	return dataReader{c}
}

type dataReader struct{ c *Conn }

func (d dataReader) Read(p []byte) (int, error) {
	c := d.c
	for c.dataLeft == 0 {
		if c.dataEOF {
			return 0, io.EOF
		}
		kind, n, err := c.readHeader()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("reading data: stream closed before its end: %w", io.ErrUnexpectedEOF)
			}
			return 0, fmt.Errorf("reading data: %w", err)
		}
		if kind != kindData {
			return 0, fmt.Errorf("reading data: got a message frame")
		}
		if n == 0 {
			c.dataEOF = true
			return 0, io.EOF
		}
		c.dataLeft = n
	}
	if len(p) > c.dataLeft {
		p = p[:c.dataLeft]
	}
	n, err := c.r.Read(p)
	c.dataLeft -= n
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("reading data: stream closed in a frame: %w", io.ErrUnexpectedEOF)
		}
		return n, err
	}
	return n, nil
}

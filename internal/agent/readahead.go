package agent

import (
	"io"
	"sync"
)

// readAhead reads r in its own goroutine, up to max bytes ahead of the
// consumer. nix-store --import alternates between reading a path and
// writing it out; without this buffer the link would stand idle during
// every write, since the SSH window fills as soon as the agent stops
// reading.
type readAhead struct {
	ch   chan []byte
	cur  []byte
	err  error
	done chan struct{}
	once sync.Once
}

const readAheadChunk = 256 << 10

func newReadAhead(r io.Reader, max int) *readAhead {
	ra := &readAhead{ch: make(chan []byte, max/readAheadChunk), done: make(chan struct{})}
	go func() {
		defer close(ra.ch)
		for {
			b := make([]byte, readAheadChunk)
			n, err := io.ReadAtLeast(r, b, 1)
			if n > 0 {
				select {
				case ra.ch <- b[:n]:
				case <-ra.done:
					return
				}
			}
			if err != nil {
				ra.err = err // read after the channel closes
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		b, ok := <-ra.ch
		if !ok {
			return 0, ra.err
		}
		ra.cur = b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reading goroutine (it may stay blocked in r until r
// ends, which closing the stream does).
func (ra *readAhead) Close() {
	ra.once.Do(func() { close(ra.done) })
}

package supervise

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// maxLine is where a long line is cut: the rest follows as further prefixed
// lines, so nothing is lost and memory stays bounded.
const maxLine = 64 * 1024

// lineWriter writes whole prefixed lines to one stream, one Write per line,
// so lines of different processes never mix.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) writeLine(prefix string, line []byte) {
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(buf, prefix...)
	buf = append(buf, line...)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		buf = append(buf, '\n')
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.w.Write(buf) //nolint:errcheck // nowhere to report a broken log stream
}

// copyLines copies r to w line by line, each line prefixed. A partial last
// line is written when r ends; lines longer than maxLine are cut.
func copyLines(w *lineWriter, prefix string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.writeLine(prefix, line)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return
		}
	}
}

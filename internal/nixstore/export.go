package nixstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The `nix-store --export` format, per store path:
//
//	u64 1, NAR, u64 exportMagic, string path, u64 n, n × string reference,
//	string deriver (may be empty), u64 0 (no signature)
//
// and after the last path a u64 0. Integers are little-endian; a string is a
// u64 length, the bytes, and zero padding to a multiple of 8.
//
// nix-store --import registers a path right after reading its final u64
// (the signature flag). CopyExport therefore forwards a path's bytes as they
// are validated but withholds those last 8 bytes until the whole entry,
// references included, is known to be good. A stream that is cut or found
// malformed anywhere leaves nix-store with an incomplete entry, which it
// refuses: every path is imported completely or not at all.
const exportMagic = 0x4558494e

// Limits on what one entry may declare; far above anything Nix produces.
const (
	maxReferences = 1 << 16
	maxTarget     = 4095 // PATH_MAX - 1
	maxEntryName  = 255
	maxDepth      = 256
	maxToken      = 32
)

// Entry is one store path read from an export stream.
type Entry struct {
	Path       string
	References []string
	Deriver    string // "" if none
	NarSize    int64
}

// ExportOptions says what CopyExport checks beyond the format itself.
type ExportOptions struct {
	// ReferenceValid reports whether path, a reference that did not come
	// earlier in the stream, is valid on the target. If nil, such
	// references are refused.
	ReferenceValid func(path string) (bool, error)
	// BeforeCommit runs when an entry is fully validated, before the bytes
	// that let nix-store --import register it are written. The agent
	// creates the path's temporary GC root here. An error aborts the copy.
	BeforeCommit func(Entry) error
	// MaxPaths bounds the number of entries (0: no bound).
	MaxPaths int
}

// FormatError is a malformed export stream or NAR.
type FormatError struct {
	Offset    int64  // byte offset in the export stream
	Entry     int    // 1-based index of the store path entry
	StorePath string // the entry's store path, when already read
	File      string // path inside the NAR ("" = its root), when in a NAR
	Msg       string
}

func (e *FormatError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export stream offset %d", e.Offset)
	if e.Entry > 0 {
		fmt.Fprintf(&b, ", entry %d", e.Entry)
	}
	if e.StorePath != "" {
		fmt.Fprintf(&b, " (%s)", e.StorePath)
	}
	if e.File != "" {
		fmt.Fprintf(&b, ", file %s", e.File)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// CopyExport reads an export stream from r, validates every byte of it and
// writes it unchanged to w (nil: discard). It returns the entries in stream
// order. On error, w has received only a validated prefix that does not
// complete the failing entry.
func CopyExport(r io.Reader, w io.Writer, opts ExportOptions) ([]Entry, error) {
	if w == nil {
		w = io.Discard
	}
	d := &decoder{
		src:  bufio.NewReaderSize(r, 256<<10),
		out:  bufio.NewWriterSize(w, 256<<10),
		opts: opts,
		seen: map[string]bool{},
	}
	entries, err := d.stream()
	if ferr := d.out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing export stream: %w", ferr)
	}
	return entries, err
}

type decoder struct {
	src  *bufio.Reader
	out  *bufio.Writer
	opts ExportOptions
	off  int64
	pend bytes.Buffer // read and not yet forwarded

	entry     int
	storePath string
	file      string
	inNar     bool
	seen      map[string]bool
	scratch   [8]byte

	// fs, if set, receives each NAR's nodes as they are validated and
	// each accepted entry (see Store.RestoreImport); nil for CopyExport.
	fs narSink
}

func (d *decoder) errorf(format string, a ...any) error {
	f := ""
	if d.inNar {
		f = d.file
		if f == "" {
			f = "/"
		}
	}
	return &FormatError{Offset: d.off, Entry: d.entry, StorePath: d.storePath, File: f, Msg: fmt.Sprintf(format, a...)}
}

// flush forwards the validated pending bytes.
func (d *decoder) flush() error {
	if d.pend.Len() == 0 {
		return nil
	}
	_, err := d.out.Write(d.pend.Bytes())
	d.pend.Reset()
	if err != nil {
		return fmt.Errorf("writing export stream: %w", err)
	}
	return nil
}

func (d *decoder) readFull(b []byte) error {
	n, err := io.ReadFull(d.src, b)
	d.off += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return d.errorf("stream ends early")
		}
		return fmt.Errorf("reading export stream at offset %d: %w", d.off, err)
	}
	return nil
}

func (d *decoder) u64() (uint64, error) {
	b := d.scratch[:]
	if err := d.readFull(b); err != nil {
		return 0, err
	}
	d.pend.Write(b)
	return binary.LittleEndian.Uint64(b), nil
}

// padding reads the zero bytes after n bytes of string data.
func (d *decoder) padding(n uint64) error {
	p := int((8 - n%8) % 8)
	if p == 0 {
		return nil
	}
	b := d.scratch[:p]
	if err := d.readFull(b); err != nil {
		return err
	}
	for _, c := range b {
		if c != 0 {
			return d.errorf("non-zero padding byte")
		}
	}
	d.pend.Write(b)
	return nil
}

// str reads a string of at most max bytes into the pending buffer.
func (d *decoder) str(max int, what string) (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(max) {
		return "", d.errorf("%s of %d bytes, at most %d allowed", what, n, max)
	}
	b := make([]byte, n)
	if err := d.readFull(b); err != nil {
		return "", err
	}
	d.pend.Write(b)
	if err := d.padding(n); err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *decoder) expect(tok string) error {
	s, err := d.str(maxToken, "token")
	if err != nil {
		return err
	}
	if s != tok {
		return d.errorf("got %q, want %q", s, tok)
	}
	return nil
}

func (d *decoder) stream() ([]Entry, error) {
	var entries []Entry
	for {
		d.storePath = ""
		n, err := d.u64()
		if err != nil {
			return entries, err
		}
		switch n {
		case 0:
			if _, err := d.src.ReadByte(); err == nil {
				d.off++
				return entries, d.errorf("data after the end of the export stream")
			} else if !errors.Is(err, io.EOF) {
				return entries, fmt.Errorf("reading export stream at offset %d: %w", d.off, err)
			}
			return entries, d.flush()
		case 1:
		default:
			return entries, d.errorf("entry marker %d, want 1 (next path) or 0 (end)", n)
		}
		d.entry++
		if d.opts.MaxPaths > 0 && d.entry > d.opts.MaxPaths {
			return entries, d.errorf("more than %d store paths", d.opts.MaxPaths)
		}
		e, err := d.oneEntry()
		if err != nil {
			return entries, err
		}
		entries = append(entries, e)
	}
}

func (d *decoder) oneEntry() (Entry, error) {
	if d.fs != nil {
		// Only the NAR's own bytes go through the sink's hash.
		if err := d.flush(); err != nil {
			return Entry{}, err
		}
		if err := d.out.Flush(); err != nil {
			return Entry{}, fmt.Errorf("writing export stream: %w", err)
		}
		if err := storeErr(d.fs.beginNar()); err != nil {
			return Entry{}, err
		}
	}
	start := d.off
	d.inNar, d.file = true, ""
	if err := d.nar(); err != nil {
		return Entry{}, err
	}
	d.inNar = false
	e := Entry{NarSize: d.off - start}
	if err := d.flush(); err != nil {
		return e, err
	}
	if d.fs != nil {
		if err := d.out.Flush(); err != nil {
			return e, fmt.Errorf("writing export stream: %w", err)
		}
		d.fs.endNar()
	}
	magic, err := d.u64()
	if err != nil {
		return e, err
	}
	if magic != exportMagic {
		return e, d.errorf("export magic %#x, want %#x", magic, exportMagic)
	}
	p, err := d.str(len(StoreDir)+1+hashLen+1+maxNameLen, "store path")
	if err != nil {
		return e, err
	}
	if err := ValidStorePath(p); err != nil {
		return e, d.errorf("%v", err)
	}
	if d.seen[p] {
		return e, d.errorf("store path %s twice in the stream", p)
	}
	d.storePath, e.Path = p, p
	nrefs, err := d.u64()
	if err != nil {
		return e, err
	}
	if nrefs > maxReferences {
		return e, d.errorf("%d references, at most %d allowed", nrefs, maxReferences)
	}
	for i := uint64(0); i < nrefs; i++ {
		ref, err := d.str(len(StoreDir)+1+hashLen+1+maxNameLen, "reference")
		if err != nil {
			return e, err
		}
		if err := ValidStorePath(ref); err != nil {
			return e, d.errorf("reference: %v", err)
		}
		e.References = append(e.References, ref)
	}
	drv, err := d.str(len(StoreDir)+1+hashLen+1+maxNameLen, "deriver")
	if err != nil {
		return e, err
	}
	if drv != "" {
		if err := ValidStorePath(drv); err != nil || !strings.HasSuffix(drv, ".drv") {
			return e, d.errorf("deriver %q is not a store derivation", drv)
		}
	}
	e.Deriver = drv
	for _, ref := range e.References {
		if ref == p || d.seen[ref] {
			continue
		}
		ok := false
		if d.opts.ReferenceValid != nil {
			if ok, err = d.opts.ReferenceValid(ref); err != nil {
				return e, fmt.Errorf("checking reference %s of %s: %w", ref, p, err)
			}
		}
		if !ok {
			return e, d.errorf("reference %s is neither earlier in the stream nor valid on the target", ref)
		}
	}
	if err := d.flush(); err != nil {
		return e, err
	}
	// The signature flag: the last 8 bytes, withheld until the entry is accepted.
	sig, err := d.u64()
	if err != nil {
		return e, err
	}
	if sig != 0 {
		return e, d.errorf("signature flag %d, want 0 (signed exports are not supported)", sig)
	}
	if d.opts.BeforeCommit != nil {
		if err := d.opts.BeforeCommit(e); err != nil {
			return e, fmt.Errorf("before importing %s: %w", p, err)
		}
	}
	if d.fs != nil {
		if err := storeErr(d.fs.commit(e)); err != nil {
			return e, err
		}
	}
	if err := d.flush(); err != nil {
		return e, err
	}
	if err := d.out.Flush(); err != nil {
		return e, fmt.Errorf("writing export stream: %w", err)
	}
	d.seen[p] = true
	return e, nil
}

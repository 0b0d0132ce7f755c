// The NAR half of the export decoder: a NAR (nix-archive-1) validated node
// by node, and handed to the decoder's sink as it is read.

package nixstore

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// nar validates one NAR (nix-archive-1).
func (d *decoder) nar() error {
	if err := d.expect("nix-archive-1"); err != nil {
		return err
	}
	return d.node(0)
}

func (d *decoder) node(depth int) error {
	if depth > maxDepth {
		return d.errorf("directories nested deeper than %d", maxDepth)
	}
	if err := d.expect("("); err != nil {
		return err
	}
	if err := d.expect("type"); err != nil {
		return err
	}
	typ, err := d.str(maxToken, "token")
	if err != nil {
		return err
	}
	switch typ {
	case "regular":
		tok, err := d.str(maxToken, "token")
		if err != nil {
			return err
		}
		executable := false
		if tok == "executable" {
			executable = true
			if err := d.expect(""); err != nil {
				return err
			}
			if tok, err = d.str(maxToken, "token"); err != nil {
				return err
			}
		}
		if tok != "contents" {
			return d.errorf("got %q, want \"contents\"", tok)
		}
		if err := d.contents(executable); err != nil {
			return err
		}
	case "symlink":
		if err := d.expect("target"); err != nil {
			return err
		}
		t, err := d.str(maxTarget, "symlink target")
		if err != nil {
			return err
		}
		if t == "" || strings.IndexByte(t, 0) >= 0 {
			return d.errorf("symlink target %q is empty or holds NUL", t)
		}
		if d.fs != nil {
			if err := storeErr(d.fs.symlink(d.file, t)); err != nil {
				return err
			}
		}
	case "directory":
		if d.fs != nil {
			if err := storeErr(d.fs.mkdir(d.file)); err != nil {
				return err
			}
		}
		dir := d.file
		if err := d.directory(depth); err != nil {
			return err
		}
		if d.fs != nil {
			if err := storeErr(d.fs.dirDone(dir)); err != nil {
				return err
			}
		}
		return nil // directory consumed its ")"
	default:
		return d.errorf("node type %q, want regular, symlink or directory", typ)
	}
	return d.expect(")")
}

func (d *decoder) contents(executable bool) error {
	n, err := d.u64()
	if err != nil {
		return err
	}
	if n > 1<<50 {
		return d.errorf("file of %d bytes", n)
	}
	if err := d.flush(); err != nil {
		return err
	}
	// Contents are any bytes: stream them through.
	var dst io.Writer = d.out
	var f io.WriteCloser
	if d.fs != nil {
		if f, err = d.fs.file(d.file, executable); err != nil {
			return storeErr(err)
		}
		defer f.Close() // a second Close, after the one below, is harmless
		dst = io.MultiWriter(d.out, f)
	}
	c, err := io.CopyN(dst, d.src, int64(n))
	d.off += c
	if err == nil && f != nil {
		if err := f.Close(); err != nil {
			return storeErr(err)
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return d.errorf("stream ends early (in file contents)")
		}
		return fmt.Errorf("copying file contents at offset %d: %w", d.off, err)
	}
	return d.padding(n)
}

func (d *decoder) directory(depth int) error {
	parent := d.file
	prev := ""
	for first := true; ; first = false {
		d.file = parent
		tok, err := d.str(maxToken, "token")
		if err != nil {
			return err
		}
		if tok == ")" {
			return nil
		}
		if tok != "entry" {
			return d.errorf("got %q, want \"entry\" or \")\"", tok)
		}
		if err := d.expect("("); err != nil {
			return err
		}
		if err := d.expect("name"); err != nil {
			return err
		}
		name, err := d.str(maxEntryName, "entry name")
		if err != nil {
			return err
		}
		d.file = parent + "/" + name
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return d.errorf("bad entry name %q", name)
		}
		if !first && name <= prev {
			return d.errorf("entry %q after %q: names not sorted or not unique", name, prev)
		}
		prev = name
		d.file = parent + "/" + name
		if err := d.expect("node"); err != nil {
			return err
		}
		if err := d.node(depth + 1); err != nil {
			return err
		}
		d.file = parent + "/" + name
		if err := d.expect(")"); err != nil {
			return err
		}
	}
}

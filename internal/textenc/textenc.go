// Package textenc reads list imports in the encodings offices save them
// in: UTF-8, and Shift_JIS as Excel in Japan writes CSV (code page 932,
// Windows-31J), converting the latter to UTF-8 on the fly.
package textenc

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// The encodings Reader reports.
const (
	ASCII    = "ASCII"
	UTF8     = "UTF-8"
	ShiftJIS = "Shift_JIS (CP932)"
)

// window is how much text is looked at to tell the encodings apart.
const window = 64 << 10

// Reader passes ASCII through and, at the first byte that is not ASCII,
// decides the encoding from up to 64 KiB of text: valid UTF-8 stays as it
// is; text that is not UTF-8 but is valid Shift_JIS (CP932) is converted
// to UTF-8 from there on; anything else is passed on unchanged, for the
// importer to report line by line. Memory stays bounded whatever the
// input's size.
type Reader struct {
	r   *bufio.Reader
	enc string
	out io.Reader // set once decided
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, window), enc: ASCII}
}

// Encoding names the encoding read so far: ASCII until a byte that is not
// ASCII was seen, then UTF8 or ShiftJIS.
func (d *Reader) Encoding() string { return d.enc }

// Read implements io.Reader.
func (d *Reader) Read(p []byte) (int, error) {
	if d.out != nil {
		return d.out.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	b, err := d.r.Peek(window)
	if len(b) == 0 {
		return 0, err
	}
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i > 0 {
		n := copy(p, b[:i])
		d.r.Discard(n)
		return n, nil
	}
	d.decide(b, err == nil)
	return d.out.Read(p)
}

// decide picks the encoding from b, which starts with a byte that is not
// ASCII; more says the input goes on after b.
func (d *Reader) decide(b []byte, more bool) {
	if more {
		// The window may end inside a character; leave out its last bytes.
		if k := bytes.LastIndexByte(b, '\n'); k > 0 {
			b = b[:k+1]
		}
	}
	if utf8.Valid(b) {
		d.enc, d.out = UTF8, d.r
		return
	}
	if s, err := japanese.ShiftJIS.NewDecoder().Bytes(b); err == nil && !bytes.ContainsRune(s, utf8.RuneError) {
		d.enc, d.out = ShiftJIS, transform.NewReader(d.r, japanese.ShiftJIS.NewDecoder())
		return
	}
	d.enc, d.out = UTF8, d.r
}

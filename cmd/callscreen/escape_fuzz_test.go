package main

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSafe: what "callscreen log" prints of caller data is valid UTF-8
// with no control characters, no bidirectional controls and a bounded
// length, whatever the caller sent.
func FuzzSafe(f *testing.F) {
	for _, s := range []string{"0312345678", "\x1b[31mred\x1b[0m", "\u202eevil\u202c", "a\x00b\r\nc", "\xff\xfe", strings.Repeat("長", 500), "\u0085\u009b2J", "%s%n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safe(s)
		if !utf8.ValidString(got) {
			t.Errorf("invalid UTF-8: %q", got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Bidi_Control, r) {
				t.Errorf("unsafe rune %U in %q", r, got)
			}
		}
		if len(got) > 200*4*3+64 {
			t.Errorf("%d bytes out for %d in", len(got), len(s))
		}
	})
}

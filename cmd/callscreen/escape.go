package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// safe makes caller-controlled text harmless on a terminal: control
// characters, bidirectional overrides and invalid UTF-8 are shown as
// escapes, and very long values are cut.
func safe(s string) string {
	const max = 200
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.Is(unicode.Bidi_Control, r) || r == '\u200b' || r == '\ufeff':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
		if n++; n >= max && i < len(s) {
			fmt.Fprintf(&b, "...(%d more bytes)", len(s)-i)
			break
		}
	}
	return b.String()
}

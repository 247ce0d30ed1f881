package main

import (
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "+81312345678", "+81312345678"},
		{"japanese", "公衆電話", "公衆電話"},
		{"crlf injection", "a\r\nSet: x", `a\x0d\x0aSet: x`},
		{"nul", "a\x00b", `a\x00b`},
		{"escape sequence", "\x1b[31mred", `\x1b[31mred`},
		{"invalid utf8", "a\xffb", `a\xffb`},
		{"rtl override", "abc\u202edcba", `abc\u202edcba`},
		{"c1 control", "a\u009bb", `a\x9bb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safe(tt.in); got != tt.want {
				t.Errorf("safe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	long := safe(strings.Repeat("x", 8192))
	if !strings.HasSuffix(long, "...(7992 more bytes)") || len(long) > 300 {
		t.Errorf("long value not cut: %d bytes, ends %q", len(long), long[len(long)-30:])
	}
}

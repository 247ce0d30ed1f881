package textenc

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

func sjis(t *testing.T, s string) []byte {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReader(t *testing.T) {
	csv := "number,reason\n0312345678,ヤマダ商店（取引先）\n09012345678,髙橋クリニック ①\n"
	long := strings.Repeat("0312345678,ok\n", 10000) + "0312345679,田中様\n" // non-ASCII after 64 KiB
	tests := []struct {
		name string
		in   []byte
		want string
		enc  string
	}{
		{"ASCII", []byte("0312345678,customer\n"), "0312345678,customer\n", ASCII},
		{"UTF-8", []byte(csv), csv, UTF8},
		{"UTF-8 with BOM", append([]byte("\xef\xbb\xbf"), csv...), "\ufeff" + csv, UTF8},
		{"Shift_JIS from Excel", sjis(t, csv), csv, ShiftJIS},
		{"Shift_JIS after 64 KiB of ASCII", sjis(t, long), long, ShiftJIS},
		{"neither: passed on", []byte("0312345678,\xff\xfe\n"), "0312345678,\xff\xfe\n", UTF8},
		{"empty", nil, "", ASCII},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in))
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("read %q, want %q", clip(got), clip([]byte(tt.want)))
			}
			if r.Encoding() != tt.enc {
				t.Errorf("encoding %s, want %s", r.Encoding(), tt.enc)
			}
		})
	}
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:40]) + "..." + string(b[len(b)-40:])
	}
	return string(b)
}

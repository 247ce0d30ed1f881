package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// normalizeJP is a toy Japanese numbering plan: a national number starts
// with 0, an international one with 010 (from Japan) or 00.
func normalizeJP(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "010"):
		return "+" + s[3:], nil
	case strings.HasPrefix(s, "00"):
		return "+" + s[2:], nil
	case strings.HasPrefix(s, "0") && len(s) >= 2:
		return "+81" + s[1:], nil
	}
	return "", fmt.Errorf("no trunk prefix in %q", s)
}

func TestImport(t *testing.T) {
	long := strings.Repeat("9", MaxLineLength+10)
	tests := []struct {
		name      string
		in        string
		normalize bool
		skipBad   bool
		// want is the list afterwards, "number|reason|expires" per entry in
		// number order; empty when nothing should be imported.
		want    []string
		bad     []string // BadLine.String() of every bad line
		header  bool
		skipped int64
	}{
		{
			name: "plain text",
			in:   "+81312345678\n+819012345678\n+4470*\n",
			want: []string{"+4470*||", "+81312345678||", "+819012345678||"},
		},
		{
			name: "csv without header",
			in:   "+81312345678,fraud caller,2026-04-01\n+819012345678,\"robocall, twice\",2026-04-01T12:00:00+09:00\n",
			want: []string{"+81312345678|fraud caller|2026-04-01T00:00:00Z", "+819012345678|robocall, twice|2026-04-01T03:00:00Z"},
		},
		{
			name:    "header in another order, extra column",
			in:      "Expires,Name,Number,Note\n2026-04-01,Tanaka,+81312345678,spam\n,Sato,+819012345678,\n",
			want:    []string{"+81312345678|spam|2026-04-01T00:00:00Z", "+819012345678||"},
			header:  true,
			skipped: 1,
		},
		{
			name:    "comments, blank lines, spaces",
			in:      "# block list from the tax office\n\n   \n  +81312345678  ,  spam  \n# end\n",
			want:    []string{"+81312345678|spam|"},
			skipped: 4,
		},
		{
			name:    "comment before header",
			in:      "# exported\nnumber,reason\n+81312345678,spam\n",
			want:    []string{"+81312345678|spam|"},
			header:  true,
			skipped: 2,
		},
		{
			name:    "CRLF and BOM",
			in:      "\ufeffnumber,reason\r\n+81312345678,spam\r\n+819012345678,\r\n",
			want:    []string{"+81312345678|spam|", "+819012345678||"},
			header:  true,
			skipped: 1,
		},
		{
			name: "BOM without header",
			in:   "\ufeff+81312345678\n",
			want: []string{"+81312345678||"},
		},
		{
			name:      "national numbers normalised",
			in:        "03-1234-5678\n(090) 1234 5678\n０３－１２３４－５６７９\n010 44 20 7946 0958\n050*\n",
			normalize: true,
			want:      []string{"+442079460958||", "+81312345678||", "+81312345679||", "+8150*||", "+819012345678||"},
		},
		{
			name: "national without a numbering plan",
			in:   "+81312345678\n0312345679\n",
			bad:  []string{`line 2: "0312345679": not in E.164 form (+ and country code) and no numbering plan was given to normalise it`},
		},
		{
			name:      "bad lines: nothing imported",
			in:        "+81312345678\n03-12x4\n\n+819012345678,,someday\n+0123\n\"+8190\n9912345678\n+8190*1\n",
			normalize: true,
			bad: []string{
				`line 2: "03-12x4": not a number`,
				`line 4: "someday": expires: not a time (want RFC 3339 such as 2026-01-02T15:04:05Z, or 2026-01-02)`,
				`line 5: "+0123": "+0123" is not a valid E.164 number or prefix`,
				`line 6: "\"+8190": bad CSV: extraneous or missing " in quoted-field`,
				`line 7: "9912345678": cannot normalise: no trunk prefix in "9912345678"`,
				`line 8: "+8190*1": not a number`,
			},
			skipped: 1,
		},
		{
			name:      "bad lines skipped",
			in:        "+81312345678\n03-12x4\n+819012345678,spam\n",
			normalize: true,
			skipBad:   true,
			want:      []string{"+81312345678||", "+819012345678|spam|"},
			bad:       []string{`line 2: "03-12x4": not a number`},
		},
		{
			name:    "huge line",
			in:      "+81312345678\n" + long + "\n+819012345678\n",
			skipBad: true,
			want:    []string{"+81312345678||", "+819012345678||"},
			bad:     []string{fmt.Sprintf("line 2: %q: line longer than %d bytes", strings.Repeat("9", 40)+"...", MaxLineLength)},
		},
		{
			name: "huge last line without newline",
			in:   "+81312345678\n" + long,
			bad:  []string{fmt.Sprintf("line 2: %q: line longer than %d bytes", strings.Repeat("9", 40)+"...", MaxLineLength)},
		},
		{
			name: "duplicates: last wins",
			in:   "+81312345678,first\n+81312345678,second\n",
			want: []string{"+81312345678|second|"},
		},
		{
			name:    "not UTF-8",
			in:      "+81312345678,\x83\x58\x83\x70\x83\x80\n",
			skipBad: true,
			bad:     []string{fmt.Sprintf("line 1: %q: not UTF-8 text (save the file as UTF-8 CSV)", "+81312345678,\ufffdX\ufffdp\ufffd")},
		},
		{
			name: "empty input",
			in:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st := newStore(t)
			opts := ImportOptions{SkipBad: tt.skipBad}
			if tt.normalize {
				opts.Normalize = normalizeJP
			}
			rep, err := st.Import(ctx, screening.Block, strings.NewReader(tt.in), opts)

			var bad []string
			for _, b := range rep.Bad {
				bad = append(bad, b.String())
			}
			if strings.Join(bad, "\n") != strings.Join(tt.bad, "\n") {
				t.Errorf("bad lines\n got %q\nwant %q", bad, tt.bad)
			}
			if rep.BadLines != int64(len(tt.bad)) {
				t.Errorf("BadLines = %d, want %d", rep.BadLines, len(tt.bad))
			}
			var ie *ImportError
			if len(tt.bad) > 0 && !tt.skipBad {
				if !errors.As(err, &ie) || ie.Total != int64(len(tt.bad)) {
					t.Errorf("err = %v, want an *ImportError with %d lines", err, len(tt.bad))
				}
			} else if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if rep.Header != tt.header || rep.Skipped != tt.skipped {
				t.Errorf("Header, Skipped = %v, %d; want %v, %d", rep.Header, rep.Skipped, tt.header, tt.skipped)
			}

			got, err := st.Entries(ctx, ListFilter{IncludeExpired: true})
			if err != nil {
				t.Fatal(err)
			}
			var list []string
			for _, e := range got {
				exp := ""
				if !e.Expires.IsZero() {
					exp = e.Expires.UTC().Format(time.RFC3339)
				}
				list = append(list, e.Number+"|"+e.Reason+"|"+exp)
				if e.Source != screening.SourceImport || e.Kind != screening.Block || e.Created.IsZero() {
					t.Errorf("entry %+v: want kind block, source import, a creation time", e)
				}
			}
			if strings.Join(list, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("list\n got %q\nwant %q", list, tt.want)
			}
			if err == nil && rep.Imported < int64(len(tt.want)) {
				t.Errorf("Imported = %d, want at least %d", rep.Imported, len(tt.want))
			}
		})
	}
}

func TestImportErrorListsFirst20(t *testing.T) {
	var in strings.Builder
	for i := range 30 {
		fmt.Fprintf(&in, "bad%d\n", i)
	}
	st := newStore(t)
	rep, err := st.Import(t.Context(), screening.Block, strings.NewReader(in.String()), ImportOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for i := range 30 {
		line := fmt.Sprintf("line %d: \"bad%d\": not a number", i+1, i)
		if got, want := strings.Contains(msg, line), i < 20; got != want {
			t.Errorf("error holds %q: %v, want %v", line, got, want)
		}
	}
	if !strings.Contains(msg, "30 bad line(s), nothing imported") || !strings.HasSuffix(msg, "... and 10 more") {
		t.Errorf("error = %q", msg)
	}
	if len(rep.Bad) != 30 || rep.Imported != 0 {
		t.Errorf("report: %d bad, %d imported; want 30, 0", len(rep.Bad), rep.Imported)
	}
}

// TestImportFailureKeepsList checks that a failed import leaves an existing
// list as it was.
func TestImportFailureKeepsList(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	putAll(t, st, entry("block", "+81312345678", ""))
	_, err := st.Import(ctx, screening.Block, strings.NewReader("+81312345678,changed\n+819012345678\nbad\n"), ImportOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	got, _ := st.Entries(ctx, ListFilter{})
	if len(got) != 1 || got[0].Reason != "test +81312345678" {
		t.Errorf("list after failed import: %+v", got)
	}
}

func TestImportReportCounts(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	old := entry("block", "+81312345678", "")
	old.Created = t0
	putAll(t, st, old, entry("allow", "+819012345678", ""))
	in := "+81312345678,renewed\n+819012345678\n+819012345679\n"
	var calls [][2]int64
	rep, err := st.Import(ctx, screening.Block, strings.NewReader(in), ImportOptions{
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 3 || rep.Imported != 3 || rep.Added != 2 {
		t.Errorf("report %+v, want 3 lines, 3 imported, 2 added", rep)
	}
	got, _ := st.Entries(ctx, ListFilter{Prefix: "+813"})
	if len(got) != 1 || got[0].Reason != "renewed" || !got[0].Created.Equal(t0) {
		t.Errorf("re-imported entry %+v: want the new reason and the original creation time", got)
	}
	n := int64(len(in))
	if len(calls) == 0 || calls[len(calls)-1] != [2]int64{n, n} {
		t.Errorf("progress calls %v, want the last to be {%d %d}", calls, n, n)
	}
}

func TestImportProgressUnknownSize(t *testing.T) {
	in := strings.Repeat("+81312345678\n", 50000) // 650 kB: a few reports
	st := newStore(t)
	var calls [][2]int64
	_, err := st.Import(t.Context(), screening.Block, io.MultiReader(strings.NewReader(in)), ImportOptions{
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 {
		t.Fatalf("progress called %d times, want at least twice", len(calls))
	}
	for i, c := range calls {
		if c[1] != -1 || (i > 0 && c[0] < calls[i-1][0]) {
			t.Errorf("progress call %d = %v, want rising done and total -1", i, c)
		}
	}
	if last := calls[len(calls)-1][0]; last != int64(len(in)) {
		t.Errorf("last done = %d, want %d", last, len(in))
	}
}

func TestImportCanceled(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	in := strings.Repeat("+81312345678\n", 50000) // progress, and so cancel, at 256 KiB
	_, err := st.Import(ctx, screening.Block, strings.NewReader(in), ImportOptions{
		Progress: func(done, total int64) { cancel() },
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n, _ := st.Count(t.Context(), screening.Block); n != 0 {
		t.Errorf("%d entries imported by a canceled import", n)
	}
	// The store still works: the staging table went with the transaction.
	if _, err := st.Import(t.Context(), screening.Block, strings.NewReader("+81312345678\n"), ImportOptions{}); err != nil {
		t.Errorf("import after a canceled one: %v", err)
	}
}

func TestImportUTF16(t *testing.T) {
	st := newStore(t)
	_, err := st.Import(t.Context(), screening.Block, bytes.NewReader([]byte("\xff\xfe+\x008\x001\x00")), ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("err = %v, want a UTF-16 error", err)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := t.Context()
	src := newStore(t)
	withTime := entry("block", "+81312345678", "2026-04-01T12:30:00Z")
	withTime.Reason = `quotes "and", commas`
	withTime.Created = time.Date(2025, 12, 24, 10, 0, 0, 123456789, time.UTC)
	cb := entry("block", "+819012345678", "2026-05-01T00:00:00Z")
	cb.Source = screening.SourceVelocity
	cb.Reason = `=HYPERLINK("http://evil.example/","click")`
	minus := entry("block", "+819012345679", "")
	minus.Reason = "-5 calls"
	quoted := entry("block", "+819012345670", "")
	quoted.Reason = "'+quoted already"
	putAll(t, src, withTime, cb, minus, quoted, entry("block", "+4470*", ""), entry("allow", "+81120123456", ""))

	var buf bytes.Buffer
	if err := src.Export(ctx, screening.Block, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "number,reason,expires,source,created\n") {
		t.Errorf("export starts %q", buf.String()[:40])
	}
	exported := buf.String()
	// No cell a spreadsheet would run: text that starts like a formula is
	// quoted; E.164 numbers keep their "+".
	for _, want := range []string{`,"'=HYPERLINK(""http://evil.example/"",""click"")",`, ",'-5 calls,", ",''+quoted already,", "\n+819012345678,"} {
		if !strings.Contains(exported, want) {
			t.Errorf("export lacks %q:\n%s", want, exported)
		}
	}

	dst := newStore(t)
	rep, err := dst.Import(ctx, screening.Block, &buf, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 5 || !rep.Header {
		t.Errorf("report %+v, want 5 imported and a header", rep)
	}
	want, _ := src.Entries(ctx, ListFilter{Kind: screening.Block, IncludeExpired: true})
	got, _ := dst.Entries(ctx, ListFilter{Kind: screening.Block, IncludeExpired: true})
	if len(got) != len(want) {
		t.Fatalf("round trip: %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Number != w.Number || g.Reason != w.Reason || g.Source != w.Source || !g.Expires.Equal(w.Expires) || !g.Created.Equal(w.Created) {
			t.Errorf("round trip:\n got %+v\nwant %+v", g, w)
		}
	}
	var again bytes.Buffer
	if err := dst.Export(ctx, screening.Block, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != exported {
		t.Errorf("second export differs:\n%s\n---\n%s", again.String(), exported)
	}
}

func TestCleanNumber(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+81 3-1234-5678", "+81312345678", true},
		{"(03) 1234.5678", "0312345678", true},
		{"０３ー１２３４ー５６７８", "0312345678", true},
		{"＋８１３１２３４５６７８", "+81312345678", true},
		{"+4470 *", "+4470*", true},
		{"050＊", "050*", true},
		{"+81+3", "", false},
		{"3+81", "", false},
		{"+81*3", "", false},
		{"**", "", false},
		{"+", "", false},
		{"anonymous", "", false},
		{"03-12x4", "", false},
	}
	for _, tt := range tests {
		got, ok := cleanNumber(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cleanNumber(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestImportValidatesLikeTheAPI: an import refuses what the dashboard's
// API refuses: control and bidi characters and over-long reasons, unknown
// sources, and automatic entries callscreen would never write (a
// never-expiring expected callback, a throttle on the allow list).
func TestImportValidatesLikeTheAPI(t *testing.T) {
	long := strings.Repeat("長", screening.MaxReasonLen+1)
	tests := []struct {
		name string
		kind screening.ListKind
		line string
		bad  string // "" for a good line; else part of the reason
	}{
		{"operator reason", screening.Block, "+81312345678,spam caller", ""},
		{"longest reason", screening.Block, "+81312345678," + strings.Repeat("長", screening.MaxReasonLen), ""},
		{"callback with an expiry", screening.Allow, "+81312345678,called back,2099-01-01,callback", ""},
		{"velocity throttle with an expiry", screening.Block, "+81312345678,too fast,2099-01-01,velocity", ""},
		{"over-long reason", screening.Block, "+81312345678," + long, "longer than"},
		{"escape sequence", screening.Block, "+81312345678,\x1b[2Jcleared", "control"},
		{"bidi override", screening.Block, "+81312345678,\u202eevil", "bidirectional"},
		{"zero-width", screening.Block, "+81312345678,a\u200bb", "bidirectional"},
		{"unknown source", screening.Block, "+81312345678,x,,hacker", "not one of"},
		{"never-expiring callback", screening.Allow, "+81312345678,x,,callback", "give an expiry"},
		{"callback on the block list", screening.Block, "+81312345678,x,2099-01-01,callback", "allow list"},
		{"throttle on the allow list", screening.Allow, "+81312345678,x,2099-01-01,challenge-failures", "block list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			in := "number,reason,expires,source\n" + tt.line + "\n"
			rep, err := st.Import(t.Context(), tt.kind, strings.NewReader(in), ImportOptions{})
			if tt.bad == "" {
				if err != nil || rep.Imported != 1 {
					t.Errorf("import = %+v, %v; want 1 imported", rep, err)
				}
				return
			}
			var ie *ImportError
			if !errors.As(err, &ie) || len(ie.Bad) != 1 || !strings.Contains(ie.Bad[0].Reason, tt.bad) {
				t.Errorf("import = %v; want one bad line naming %q", err, tt.bad)
			}
			if n, _ := st.Count(t.Context(), tt.kind); n != 0 {
				t.Errorf("%d entries imported", n)
			}
		})
	}
}

// TestExportEscapesControls: an entry stored before reasons were checked
// exports its control characters as visible text.
func TestExportEscapesControls(t *testing.T) {
	st := newStore(t)
	e := entry("block", "+81312345678", "")
	e.Reason = "red \x1b[31m\u202e"
	putAll(t, st, e)
	var buf bytes.Buffer
	if err := st.Export(t.Context(), screening.Block, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `red \u001B[31m\u202E`) || strings.ContainsAny(buf.String(), "\x1b\u202e") {
		t.Errorf("export:\n%q", buf.String())
	}
}

package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// entry returns an entry of kind k for number, expiring at the RFC 3339
// time exp (never when empty).
func entry(k, number, exp string) screening.Entry {
	e := screening.Entry{Kind: screening.ListKind(k), Number: number, Source: screening.SourceOperator, Reason: "test " + number}
	if exp != "" {
		var err error
		if e.Expires, err = time.Parse(time.RFC3339, exp); err != nil {
			panic(err)
		}
	}
	return e
}

func putAll(t testing.TB, st *Store, es ...screening.Entry) {
	t.Helper()
	for _, e := range es {
		if err := st.Put(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func numbers(es []screening.Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, string(e.Kind)+":"+e.Number)
	}
	return strings.Join(s, " ")
}

func TestPutValidates(t *testing.T) {
	tests := []struct {
		name string
		e    screening.Entry
		ok   bool
	}{
		{"e164", entry("block", "+81312345678", ""), true},
		{"prefix", entry("allow", "+8150*", ""), true},
		{"national", entry("block", "0312345678", ""), false},
		{"letters", entry("block", "+8131234x678", ""), false},
		{"too long", entry("block", "+1234567890123456", ""), false},
		{"empty", entry("block", "", ""), false},
		{"unknown kind", entry("grey", "+81312345678", ""), false},
	}
	st := newStore(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := st.Put(t.Context(), tt.e)
			if (err == nil) != tt.ok {
				t.Errorf("Put(%+v) = %v, want ok=%v", tt.e, err, tt.ok)
			}
		})
	}
}

func TestPutReplaces(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	first := entry("block", "+81312345678", "")
	first.Created = t0
	putAll(t, st, first)

	second := entry("block", "+81312345678", "2026-04-01T00:00:00Z")
	second.Reason = "replaced"
	second.Source = screening.SourceVelocity
	putAll(t, st, second)

	got, err := st.Entries(ctx, ListFilter{IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Entries = %v, want one entry", got)
	}
	e := got[0]
	if e.Reason != "replaced" || e.Source != screening.SourceVelocity || !e.Expires.Equal(second.Expires) {
		t.Errorf("entry = %+v, want the replacement", e)
	}
	if !e.Created.Equal(t0) {
		t.Errorf("Created = %v, want the original %v", e.Created, t0)
	}
}

func TestEntriesFilter(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	imported := entry("block", "+447012345678", "")
	imported.Source = screening.SourceImport
	putAll(t, st,
		entry("block", "+81312345678", ""),
		entry("block", "+81312345679", "2026-02-01T00:00:00Z"), // expired at t0
		entry("block", "+819012345678", "2026-04-01T00:00:00Z"),
		entry("block", "+8150*", ""),
		imported,
		entry("allow", "+81312345678", ""),
		entry("dno", "+81120123456", ""),
	)
	tests := []struct {
		name string
		f    ListFilter
		want string
	}{
		{"active", ListFilter{Now: t0},
			"allow:+81312345678 block:+447012345678 block:+81312345678 block:+8150* block:+819012345678 dno:+81120123456"},
		{"with expired", ListFilter{Now: t0, IncludeExpired: true, Kind: screening.Block},
			"block:+447012345678 block:+81312345678 block:+81312345679 block:+8150* block:+819012345678"},
		{"kind", ListFilter{Now: t0, Kind: screening.DoNotOriginate}, "dno:+81120123456"},
		{"prefix", ListFilter{Now: t0, Kind: screening.Block, Prefix: "+813"}, "block:+81312345678"},
		{"prefix takes patterns", ListFilter{Now: t0, Prefix: "+815"}, "block:+8150*"},
		{"source", ListFilter{Now: t0, Source: screening.SourceImport}, "block:+447012345678"},
		{"limit", ListFilter{Now: t0, Kind: screening.Block, Limit: 2}, "block:+447012345678 block:+81312345678"},
		{"offset", ListFilter{Now: t0, Kind: screening.Block, Limit: 2, Offset: 2}, "block:+8150* block:+819012345678"},
		{"offset only", ListFilter{Now: t0, Kind: screening.Block, Offset: 3}, "block:+819012345678"},
		{"expired later", ListFilter{Now: t0.AddDate(0, 2, 0), Kind: screening.Block},
			"block:+447012345678 block:+81312345678 block:+8150*"},
		{"none", ListFilter{Now: t0, Prefix: "+1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Entries(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if s := numbers(got); s != tt.want {
				t.Errorf("Entries(%+v)\n got %s\nwant %s", tt.f, s, tt.want)
			}
		})
	}
}

func TestDeleteCountPurge(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	putAll(t, st,
		entry("block", "+81312345678", ""),
		entry("block", "+81312345679", "2026-02-01T00:00:00Z"),
		entry("block", "+8150*", ""),
		entry("allow", "+81312345678", "2026-03-01T09:00:00Z"), // expires exactly at t0
	)
	count := func(k screening.ListKind) int {
		n, err := st.Count(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if b, a := count(screening.Block), count(screening.Allow); b != 3 || a != 1 {
		t.Fatalf("counts block=%d allow=%d, want 3 and 1", b, a)
	}

	deletes := []struct {
		kind   screening.ListKind
		number string
		want   bool
	}{
		{screening.Block, "+8150*", true},
		{screening.Block, "+8150*", false},
		{screening.Block, "+8150", false},
		{screening.DoNotOriginate, "+81312345678", false},
	}
	for _, d := range deletes {
		got, err := st.Delete(ctx, d.kind, d.number)
		if err != nil || got != d.want {
			t.Errorf("Delete(%s, %s) = %v, %v; want %v", d.kind, d.number, got, err, d.want)
		}
	}

	n, err := st.PurgeExpired(ctx, t0)
	if err != nil || n != 2 {
		t.Errorf("PurgeExpired = %d, %v; want 2", n, err)
	}
	got, err := st.Entries(ctx, ListFilter{IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := numbers(got); s != "block:+81312345678" {
		t.Errorf("after purge: %s", s)
	}
}

func TestSnapshotAgreesWithPut(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	challenged := entry("allow", "+819011112222", "")
	challenged.Source = screening.SourceChallenge
	imported := entry("block", "+81355556666", "")
	imported.Source = screening.SourceImport
	putAll(t, st,
		imported,
		entry("block", "+81312345678", ""),
		entry("block", "+81312345679", "2026-02-01T00:00:00Z"), // expired
		entry("block", "+81312345670", "2026-04-01T00:00:00Z"), // expires later
		entry("block", "+4470*", ""),
		entry("block", "+4471*", "2026-02-01T00:00:00Z"), // expired prefix
		entry("allow", "+81312345678", ""),
		challenged,
		entry("dno", "+81120123456", ""),
	)
	snap, err := st.Snapshot(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind       screening.ListKind
		number     string
		at         time.Time
		want       bool
		wantReason string
	}{
		{screening.Block, "+81312345678", t0, true, "test +81312345678"}, // an operator's entry keeps its reason
		{screening.Block, "+81355556666", t0, true, ""},                  // a bulk import keeps its digits alone
		{screening.Block, "+81312345679", t0, false, ""},
		{screening.Block, "+81312345670", t0, true, "test +81312345670"},
		{screening.Block, "+81312345670", t0.AddDate(0, 2, 0), false, ""}, // the snapshot keeps the expiry
		{screening.Block, "+447012345678", t0, true, "test +4470*"},
		{screening.Block, "+447112345678", t0, false, ""},
		{screening.Block, "+81312345671", t0, false, ""},
		{screening.Allow, "+81312345678", t0, true, "test +81312345678"},
		{screening.Allow, "+819011112222", t0, true, "test +819011112222"},
		{screening.Allow, "+447012345678", t0, false, ""},
		{screening.DoNotOriginate, "+81120123456", t0, true, "test +81120123456"},
	}
	for _, tt := range tests {
		e, ok := snap.Lookup(tt.kind, tt.number, tt.at)
		if ok != tt.want || (ok && e.Reason != tt.wantReason) {
			t.Errorf("Lookup(%s, %s, %v) = %+v, %v; want %v with reason %q", tt.kind, tt.number, tt.at, e, ok, tt.want, tt.wantReason)
		}
	}
	lens := map[screening.ListKind]int{screening.Block: 4, screening.Allow: 2, screening.DoNotOriginate: 1}
	for k, n := range lens {
		if got := snap.Len(k); got != n {
			t.Errorf("Len(%s) = %d, want %d", k, got, n)
		}
	}
}

// TestSnapshotSkipsBadRows checks that a row edited into the database by
// hand does not stop a reload.
func TestSnapshotSkipsBadRows(t *testing.T) {
	ctx := t.Context()
	var logged bytes.Buffer
	st := newStore(t, WithLogger(slog.New(slog.NewJSONHandler(&logged, nil))))
	putAll(t, st, entry("block", "+81312345678", ""))
	if _, err := st.w.ExecContext(ctx, `INSERT INTO list_entries (kind, number, created) VALUES ('block', 'garbage', 0)`); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Lookup(screening.Block, "+81312345678", t0); !ok || snap.Len(screening.Block) != 1 {
		t.Errorf("snapshot lost the good entry: len %d", snap.Len(screening.Block))
	}
	// The warning goes to the store's logger (serve's, in its format),
	// not to slog's default.
	if l := logged.String(); !strings.Contains(l, `"msg":"store: snapshot skipped invalid list entries","count":1,`) || !strings.Contains(l, "garbage") {
		t.Errorf("store logger got %q, want the skipped entry reported", logged.String())
	}
}

func TestPrefixRange(t *testing.T) {
	tests := []struct{ p, lo, hi string }{
		{"+81", "+81", "+82"},
		{"+8199", "+8199", "+819:"},
		{"a\xff", "a\xff", "b"},
	}
	for _, tt := range tests {
		lo, hi := prefixRange(tt.p)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("prefixRange(%q) = %q, %q; want %q, %q", tt.p, lo, hi, tt.lo, tt.hi)
		}
	}
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// migrateSource is a SQLite store as a single server leaves it: every
// list, entries that expire (one already expired), prefixes, remembered
// callers, entries already scoped to the tenant (one of them shadowing an
// entry for every tenant) and to another tenant, a bulk import, and a
// call log of records with and without a server and tenant.
func migrateSource(t testing.TB, imported, records int) *Store {
	t.Helper()
	ctx := t.Context()
	src, err := Open(ctx, filepath.Join(t.TempDir(), "single.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	now := time.Now().Truncate(time.Second)
	for _, e := range []screening.Entry{
		{Kind: screening.Allow, Number: "+81355550000", Source: screening.SourceOperator, Reason: "pharmacy", Created: now.Add(-72 * time.Hour)},
		{Kind: screening.Allow, Number: "+81355550001", Source: screening.SourceChallenge, Expires: now.Add(30 * 24 * time.Hour)},
		{Kind: screening.Allow, Number: "+81355550002", Source: screening.SourceCallback, Expires: now.Add(-time.Hour), Reason: "called back"},
		{Kind: screening.Block, Number: "+4470*", Source: screening.SourceOperator, Reason: "UK personal numbers"},
		{Kind: screening.Block, Number: "+81501234567", Source: screening.SourceVelocity, Expires: now.Add(2 * time.Hour), Reason: "velocity \"burst\", 12 calls/min"},
		{Kind: screening.Block, Number: "+81501234568", Reason: "shadowed: the tenant has its own"},
		{Kind: screening.Block, Number: "+81501234568", Tenant: "shop", Source: screening.SourceOperator, Reason: "the shop's own"},
		{Kind: screening.DoNotOriginate, Number: "+81120444444", Reason: "inbound only"},
		{Kind: screening.Allow, Number: "+81355550009", Tenant: "other-shop", Reason: "not ours"},
		{Kind: screening.Allow, Number: "+81355550000", Tenant: "other-shop", Reason: "theirs too"},
	} {
		if err := src.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if imported > 0 {
		var b strings.Builder
		for i := range imported {
			fmt.Fprintf(&b, "+8150%08d,robocall list\n", i)
		}
		if _, err := src.Import(ctx, screening.Block, strings.NewReader(b.String()), ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const batch = 5000
	rows := make([]recordRow, 0, batch)
	for i := range records {
		r := rec(fmt.Sprintf("call-%07d", i), i, fmt.Sprintf("+8190%08d", i%977), screening.Ring, screening.OutcomeRang, i%5 == 0, "international")
		switch i % 4 {
		case 1:
			r.Server = "pbx-old"
		case 2:
			r.Server, r.Tenant = "pbx-old", "shop"
		case 3:
			r.Detail = "<pressed 7 & hung up>" // HTML characters stay as they are
		}
		row, err := encodeRecord(r, now)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
		if len(rows) == batch || i == records-1 {
			if err := src.appendRows(ctx, rows); err != nil {
				t.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	return src
}

// wantEntries are the entries the destination must hold after copying
// src into the scope of tenant.
func wantEntries(t testing.TB, src *Store, tenant string) map[string]screening.Entry {
	t.Helper()
	all, err := src.Entries(t.Context(), ListFilter{IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]screening.Entry{}
	for _, e := range all {
		if e.Tenant == "" {
			e.Tenant = tenant
			if _, ok := want[entryKey(e)]; ok {
				continue // shadowed by the tenant's own
			}
		}
		want[entryKey(e)] = e
	}
	return want
}

func entryKey(e screening.Entry) string { return e.Tenant + "|" + string(e.Kind) + "|" + e.Number }

// checkIdentical compares every entry and record, field by field, of dst
// with what copying src with opts must give.
func checkIdentical(t *testing.T, src, dst *Store, opts CopyOptions) {
	t.Helper()
	ctx := t.Context()
	want := wantEntries(t, src, opts.Tenant)
	got, err := dst.Entries(ctx, ListFilter{IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("destination holds %d entries, want %d", len(got), len(want))
	}
	for _, g := range got {
		w, ok := want[entryKey(g)]
		if !ok {
			t.Errorf("destination holds %+v, which the source does not", g)
			continue
		}
		if !w.Created.Equal(g.Created) || !w.Expires.Equal(g.Expires) {
			t.Errorf("entry %s: times %v/%v, want %v/%v", entryKey(g), g.Created, g.Expires, w.Created, w.Expires)
		}
		w.Created, w.Expires, g.Created, g.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if w != g {
			t.Errorf("entry %s: %+v, want %+v", entryKey(g), g, w)
		}
	}

	srcRecs, err := src.Records(ctx, RecordFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	dstRecs, err := dst.Records(ctx, RecordFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(dstRecs) != len(srcRecs) {
		t.Fatalf("destination holds %d records, want %d", len(dstRecs), len(srcRecs))
	}
	for i, w := range srcRecs {
		if w.Server == "" {
			w.Server = opts.Server
		}
		if w.Tenant == "" {
			w.Tenant = opts.Tenant
		}
		if g := dstRecs[i]; !reflect.DeepEqual(g, w) {
			t.Errorf("record %s:\n got %+v\nwant %+v", w.ID, g, w)
		}
	}
	// The columns the log is searched by follow the record.
	for _, f := range []RecordFilter{{Server: opts.Server, Limit: -1}, {Tenant: "shop", Limit: -1}, {Server: "pbx-old", Limit: -1}} {
		var want int
		for _, r := range dstRecs {
			if f.Server != "" && r.Server == f.Server || f.Tenant != "" && r.Tenant == f.Tenant {
				want++
			}
		}
		got, err := dst.Records(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("records of server %q tenant %q: %d, want %d", f.Server, f.Tenant, len(got), want)
		}
	}
}

func TestCopyTo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tenant string
	}{
		{"into the tenant", "shop"},
		{"fleet-wide", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			src := migrateSource(t, 3000, 12_345)
			dst, err := Open(ctx, testDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			// The fleet already holds entries of its own, and a record.
			fleetBlock := screening.Entry{Kind: screening.Block, Number: "+19005550100", Source: screening.SourceImport, Reason: "fleet list"}
			if err := dst.Put(ctx, fleetBlock); err != nil {
				t.Fatal(err)
			}
			opts := CopyOptions{Tenant: tc.tenant, Server: "pbx-a", EntryBatch: 1000, RecordBatch: 2000}
			rep, err := src.CopyTo(ctx, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			if n := rep.Mismatches(); n != 0 {
				t.Fatalf("%d mismatches: %+v", n, rep)
			}
			if rep.ListsSum.Source != rep.ListsSum.Destination || rep.RecordsSum.Source != rep.RecordsSum.Destination {
				t.Errorf("checksums differ: %+v %+v", rep.ListsSum, rep.RecordsSum)
			}
			var entries, written, verified int64
			for _, l := range rep.Lists {
				entries += l.Source
				written += l.Written
				verified += l.Verified
			}
			wantShadowed := int64(0)
			if tc.tenant == "shop" {
				wantShadowed = 1
			}
			// 10 put, 3000 imported, less the shadowed one.
			if want := 3010 - wantShadowed; entries != want || written != want || verified != want || rep.Shadowed != wantShadowed {
				t.Errorf("entries: source %d written %d verified %d shadowed %d, want %d and %d shadowed", entries, written, verified, rep.Shadowed, want, wantShadowed)
			}
			if r := rep.Records; r.Source != 12_345 || r.Written != 12_345 || r.Verified != 12_345 || r.Destination != 12_345 {
				t.Errorf("records: %+v", r)
			}
			// The fleet's own entry is still there, beside the copy.
			fleet, err := dst.Entries(ctx, ListFilter{Kind: screening.Block, Prefix: "+1900", Tenants: []string{""}})
			if err != nil || len(fleet) != 1 {
				t.Errorf("the fleet's own entry: %v, %v", fleet, err)
			}
			// Drop it for the comparison.
			if _, err := dst.Delete(ctx, screening.Block, fleetBlock.Number); err != nil {
				t.Fatal(err)
			}
			checkIdentical(t, src, dst, opts)

			// A rerun adds nothing, changes nothing, and leaves the lists
			// version (and the servers following it) alone.
			v0, err := dst.ListsVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			again, err := src.CopyTo(ctx, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range again.Lists {
				if l.Written != 0 || l.Missing+l.Different != 0 {
					t.Errorf("rerun: %+v", l)
				}
			}
			if again.Records.Written != 0 || again.Mismatches() != 0 || again.Records.Destination != 12_345 {
				t.Errorf("rerun: records %+v", again.Records)
			}
			if again.ListsSum != rep.ListsSum || again.RecordsSum != rep.RecordsSum {
				t.Errorf("rerun: checksums changed: %+v %+v, was %+v %+v", again.ListsSum, again.RecordsSum, rep.ListsSum, rep.RecordsSum)
			}
			if v1, _ := dst.ListsVersion(ctx); v1 != v0 {
				t.Errorf("rerun moved the lists version from %d to %d", v0, v1)
			}
			checkIdentical(t, src, dst, opts)
		})
	}
}

// TestCopyToInterrupted stops a copy halfway through each phase, then
// runs it again: the second run completes it.
func TestCopyToInterrupted(t *testing.T) {
	for _, phase := range []string{PhaseLists, PhaseRecords} {
		t.Run(phase, func(t *testing.T) {
			src := migrateSource(t, 5000, 9000)
			dst, err := Open(t.Context(), testDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			opts := CopyOptions{Tenant: "shop", Server: "pbx-a", EntryBatch: 500, RecordBatch: 1000}
			var stoppedAt int64
			opts.Progress = func(p CopyProgress) {
				if p.Phase == phase && p.Done >= p.Total/2 && stoppedAt == 0 {
					stoppedAt = p.Done
					cancel()
				}
			}
			if _, err := src.CopyTo(ctx, dst, opts); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted copy: %v, want context.Canceled", err)
			}
			entries, err := dst.Entries(t.Context(), ListFilter{IncludeExpired: true})
			if err != nil {
				t.Fatal(err)
			}
			records, err := dst.Records(t.Context(), RecordFilter{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			switch phase {
			case PhaseLists:
				if int64(len(entries)) != stoppedAt || len(records) != 0 {
					t.Errorf("stopped after %d entries: destination holds %d entries, %d records", stoppedAt, len(entries), len(records))
				}
			case PhaseRecords:
				if len(entries) != 5009 || int64(len(records)) != stoppedAt {
					t.Errorf("stopped after %d records: destination holds %d entries, %d records", stoppedAt, len(entries), len(records))
				}
			}

			opts.Progress = nil
			rep, err := src.CopyTo(t.Context(), dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Mismatches() != 0 {
				t.Errorf("after the rerun: %d mismatches", rep.Mismatches())
			}
			var written int64
			for _, l := range rep.Lists {
				written += l.Written
			}
			wantEntries, wantRecords := 5009-len(entries), 9000-len(records)
			if written != int64(wantEntries) || rep.Records.Written != int64(wantRecords) {
				t.Errorf("the rerun wrote %d entries and %d records, want the %d and %d left", written, rep.Records.Written, wantEntries, wantRecords)
			}
			checkIdentical(t, src, dst, CopyOptions{Tenant: "shop", Server: "pbx-a"})
		})
	}
}

// TestCopyToReportsMismatches checks that the verification finds what
// did not arrive: a record the destination holds under the same ID with
// other content (never overwritten), and an entry changed in the
// destination after the copy.
func TestCopyToReportsMismatches(t *testing.T) {
	ctx := t.Context()
	src := migrateSource(t, 0, 10)
	dst, err := Open(ctx, testDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	clash := rec("call-0000003", 0, "+15555550123", screening.Reject, screening.OutcomeRejected, false)
	clash.Server = "pbx-z"
	if err := appendRecord(ctx, dst, clash); err != nil {
		t.Fatal(err)
	}
	opts := CopyOptions{Tenant: "shop", Server: "pbx-a"}
	var changed bool
	opts.Progress = func(p CopyProgress) {
		// Between the copy and its verification, somebody edits an entry.
		if p.Phase == PhaseVerifyLists && !changed {
			changed = true
			if err := dst.Put(ctx, screening.Entry{Kind: screening.Allow, Number: "+81355550000", Tenant: "shop", Reason: "edited"}); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err := src.CopyTo(ctx, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Records; r.Different != 1 || r.Verified != 9 || r.Missing != 0 || r.Written != 9 {
		t.Errorf("records: %+v, want 1 different, 9 verified", r)
	}
	var different int64
	for _, l := range rep.Lists {
		different += l.Different
	}
	if different != 1 || rep.Mismatches() != 2 {
		t.Errorf("%d entries different, %d mismatches; want 1 and 2", different, rep.Mismatches())
	}
	if rep.ListsSum.Source == rep.ListsSum.Destination || rep.RecordsSum.Source == rep.RecordsSum.Destination {
		t.Errorf("checksums agree despite the mismatches: %+v %+v", rep.ListsSum, rep.RecordsSum)
	}
	// An expired entry the destination purged was not lost.
	if _, err := dst.PurgeExpired(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	rep, err = src.CopyTo(ctx, dst, CopyOptions{Tenant: "shop", Server: "pbx-a", Progress: func(p CopyProgress) {
		if p.Phase == PhaseVerifyLists && p.Done == 0 {
			dst.PurgeExpired(ctx, time.Now())
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var expired int64
	for _, l := range rep.Lists {
		expired += l.Expired
	}
	if expired != 1 || rep.Mismatches() != 1 { // the clashing record stays
		t.Errorf("after a purge: %d expired, %d mismatches; want 1 and 1", expired, rep.Mismatches())
	}
}

func TestCopyToRefuses(t *testing.T) {
	ctx := t.Context()
	src := migrateSource(t, 0, 0)
	if _, err := src.CopyTo(ctx, src, CopyOptions{}); err == nil || !strings.Contains(err.Error(), "same database") {
		t.Errorf("copy into itself: %v", err)
	}
	dst, err := Open(ctx, filepath.Join(t.TempDir(), "dst.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := src.CopyTo(ctx, dst, CopyOptions{Tenant: "no spaces"}); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("bad tenant: %v", err)
	}
}

// TestCopyToLarge measures a copy of a large store: 1 M list entries and
// 100 k call records (CALLSCREEN_MIGRATE_BENCH=1; into PostgreSQL with
// CALLSCREEN_TEST_POSTGRES).
func TestCopyToLarge(t *testing.T) {
	bench := os.Getenv("CALLSCREEN_MIGRATE_BENCH")
	if bench == "" {
		t.Skip("set CALLSCREEN_MIGRATE_BENCH=1 (or ENTRIES,RECORDS)")
	}
	entries, records := 1_000_000, 100_000
	if a, b, ok := strings.Cut(bench, ","); ok {
		var err error
		if entries, err = strconv.Atoi(a); err != nil {
			t.Fatal(err)
		}
		if records, err = strconv.Atoi(b); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	src := migrateSource(t, entries, records)
	t.Logf("source built in %v", time.Since(start))
	dst, err := Open(t.Context(), testDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	phases := map[string]time.Time{}
	opts := CopyOptions{Tenant: "shop", Server: "pbx-a", Progress: func(p CopyProgress) {
		if p.Done == 0 {
			phases[p.Phase] = time.Now()
		}
		if p.Done == p.Total {
			t.Logf("%s: %d in %v", p.Phase, p.Total, time.Since(phases[p.Phase]).Round(time.Millisecond))
		}
	}}
	rep, err := src.CopyTo(t.Context(), dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 0 {
		t.Fatalf("%d mismatches", rep.Mismatches())
	}
	t.Logf("copied into %s in %v (copy and verification)", dst.d.name, rep.Elapsed.Round(time.Millisecond))
	start = time.Now()
	again, err := src.CopyTo(t.Context(), dst, CopyOptions{Tenant: "shop", Server: "pbx-a"})
	if err != nil || again.Mismatches() != 0 {
		t.Fatal(err, again.Mismatches())
	}
	t.Logf("rerun in %v", time.Since(start).Round(time.Millisecond))
}

// TestCopyStamp checks the server and tenant a copy gives a call record
// that has none, in its columns and in its JSON, which keeps every other
// field byte for byte.
func TestCopyStamp(t *testing.T) {
	c := &copier{opts: CopyOptions{Server: "pbx-a", Tenant: "shop"}}
	for _, tc := range []struct {
		name           string
		server, tenant string // the row's columns
		record         string
		want           string
	}{
		{"neither", "", "", `{"id":"1","detail":"<pressed 7 & hung up>"}`,
			`{"server":"pbx-a","tenant":"shop","id":"1","detail":"<pressed 7 & hung up>"}`},
		{"has a server", "pbx-old", "", `{"id":"1","server":"pbx-old"}`, `{"tenant":"shop","id":"1","server":"pbx-old"}`},
		{"has both", "pbx-old", "t", `{"id":"1","server":"pbx-old","tenant":"t"}`, `{"id":"1","server":"pbx-old","tenant":"t"}`},
		{"empty object", "", "", `{}`, `{"server":"pbx-a","tenant":"shop"}`},
		{"empty keys written out", "", "", `{"id":"1","server":"","tenant":"","x":[1, 2]}`,
			`{"id":"1","server":"pbx-a","tenant":"shop","x":[1,2]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := logRow{id: "1", server: tc.server, tenant: tc.tenant, record: tc.record}
			if err := c.stamp(&r); err != nil {
				t.Fatal(err)
			}
			if r.record != tc.want {
				t.Errorf("record %s, want %s", r.record, tc.want)
			}
			var got screening.Record
			if err := json.Unmarshal([]byte(r.record), &got); err != nil {
				t.Fatal(err)
			}
			if got.Server != r.server || got.Tenant != r.tenant || r.server == "" || r.tenant == "" {
				t.Errorf("JSON says %q %q, columns %q %q", got.Server, got.Tenant, r.server, r.tenant)
			}
		})
	}
	if err := c.stamp(&logRow{id: "bad", record: "not JSON"}); err == nil {
		t.Error("a record that is not JSON was stamped")
	}
}

// TestPipe checks the hand-over between the goroutine reading the source
// and the one writing the destination.
func TestPipe(t *testing.T) {
	errConsume, errProduce := errors.New("consume"), errors.New("produce")
	for _, tc := range []struct {
		name        string
		failConsume int   // batch consume fails on (0: none)
		failProduce int   // batches produce emits before failing (0: none)
		cancel      bool  // ctx canceled before the start
		want        error // the error pipe returns
		consumed    int
	}{
		{"all", 0, 0, false, nil, 100},
		{"consume fails", 3, 0, false, errConsume, 3},
		{"produce fails", 0, 5, false, errProduce, 5},
		{"canceled", 0, 0, true, context.Canceled, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			var emitted, consumed int
			produced := make(chan struct{})
			err := pipe(ctx, func(emit func(int) bool) error {
				defer close(produced)
				for i := range 100 {
					if tc.failProduce > 0 && i == tc.failProduce {
						return errProduce
					}
					if !emit(i) {
						return nil
					}
					emitted++
				}
				return nil
			}, func(b int) error {
				if b != consumed {
					return fmt.Errorf("batch %d, want %d", b, consumed)
				}
				consumed++
				if consumed == tc.failConsume {
					return errConsume
				}
				return nil
			})
			<-produced // the producer has returned
			if !errors.Is(err, tc.want) || consumed != tc.consumed {
				t.Errorf("err %v, consumed %d; want %v, %d", err, consumed, tc.want, tc.consumed)
			}
			if emitted > consumed+2 {
				t.Errorf("the producer ran %d batches ahead", emitted-consumed)
			}
		})
	}
}

// TestCopyToUnreadableRecord checks that a record whose JSON is damaged
// is copied as it is, not lost and not stamped.
func TestCopyToUnreadableRecord(t *testing.T) {
	ctx := t.Context()
	src := migrateSource(t, 0, 3)
	if _, err := src.w.ExecContext(ctx, `UPDATE call_log SET record = '{"id": "call-0000001", trunc' WHERE id = 'call-0000001'`); err != nil {
		t.Fatal(err)
	}
	dst, err := Open(ctx, testDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	rep, err := src.CopyTo(ctx, dst, CopyOptions{Tenant: "shop", Server: "pbx-a"})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Records; r.Written != 3 || r.Verified != 3 || r.Unstamped != 1 || !strings.Contains(r.FirstUnstamped, "call-0000001") || rep.Mismatches() != 0 {
		t.Errorf("records: %+v", r)
	}
	var record, server string
	if err := dst.r.QueryRowContext(ctx, dst.q("SELECT record, server FROM call_log WHERE id = ?"), "call-0000001").Scan(&record, &server); err != nil {
		t.Fatal(err)
	}
	if record != `{"id": "call-0000001", trunc` || server != "pbx-old" {
		t.Errorf("damaged record copied as %q, server %q", record, server)
	}
}

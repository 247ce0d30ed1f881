package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// appendRecord writes one record the way the LogWriter writes a batch.
func appendRecord(ctx context.Context, st *Store, rec screening.Record) error {
	row, err := encodeRecord(rec, time.Now())
	if err != nil {
		return err
	}
	return st.appendRows(ctx, []recordRow{row})
}

// rec builds a record minutes after t0.
func rec(id string, minutes int, caller string, action screening.Action, outcome screening.Outcome, monitor bool, indicators ...string) screening.Record {
	at := t0.Add(time.Duration(minutes) * time.Minute)
	r := screening.Record{
		ID:   id,
		Time: at,
		Mode: screening.ModeARI,
		Facts: screening.Facts{
			ID: id, Time: at, Number: caller, Called: "+81312340000", Trunk: "ntt",
			From: "<sip:" + caller + "@example.net>",
		},
		Verdict: screening.Verdict{
			CallID: id, Profile: "office", Presence: screening.Presented, Caller: caller,
			Score: 10 * len(indicators), Action: action, Enforced: action, Monitor: monitor,
		},
		Taken:    action,
		Outcome:  outcome,
		Decision: 120 * time.Microsecond,
		Handling: 2 * time.Second,
	}
	if caller == "" {
		r.Verdict.Presence = screening.Withheld
	}
	if monitor {
		r.Verdict.Enforced = screening.Ring
		r.Taken = screening.Ring
	}
	for _, ind := range indicators {
		r.Verdict.Findings = append(r.Verdict.Findings, screening.Finding{Indicator: ind, Weight: 10, Evidence: "test"})
	}
	return r
}

// callLog is a small call log: two profiles, monitor and enforcing calls.
func callLog() []screening.Record {
	withheld := rec("c4", 30, "", screening.NumberRequest, screening.OutcomeAnnounced, false)
	other := rec("c7", 60*24*8, "+819012345678", screening.Ring, screening.OutcomeRang, false)
	other.Verdict.Profile = "shop"
	return []screening.Record{
		rec("c1", 0, "+81312345678", screening.Ring, screening.OutcomeRang, false),
		rec("c2", 10, "+442079460958", screening.Reject, screening.OutcomeAnnounced, false, "international", "brand-display"),
		rec("c3", 20, "+81312345678", screening.Ring, screening.OutcomeRang, false),
		withheld,
		rec("c5", 40, "+12025550199", screening.Reject, screening.OutcomeRang, true, "international", "stir-failed"),
		rec("c6", 50, "+819012345678", screening.Voicemail, screening.OutcomeRang, true, "velocity-prefix"),
		rec("c8", 70, "+819099999999", screening.Challenge, screening.OutcomeRang, true, "international"),
		rec("c9", 80, "+81120123456", screening.Ring, screening.OutcomeRang, true),
		other,
	}
}

func loadCallLog(t testing.TB, st *Store) {
	t.Helper()
	for _, r := range callLog() {
		if err := appendRecord(t.Context(), st, r); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(recs []screening.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.ID)
	}
	return strings.Join(s, " ")
}

func TestRecords(t *testing.T) {
	st := newStore(t)
	loadCallLog(t, st)
	tests := []struct {
		name string
		f    RecordFilter
		want string
	}{
		{"all, newest first", RecordFilter{}, "c7 c9 c8 c6 c5 c4 c3 c2 c1"},
		{"caller substring", RecordFilter{Caller: "1234567"}, "c7 c6 c3 c1"},
		{"caller prefix", RecordFilter{Caller: "+8190*"}, "c7 c8 c6"},
		{"caller prefix is a prefix", RecordFilter{Caller: "+44*"}, "c2"},
		{"caller prefix does not match inside", RecordFilter{Caller: "+2079*"}, ""},
		{"action", RecordFilter{Action: screening.Reject}, "c5 c2"},
		{"outcome", RecordFilter{Outcome: screening.OutcomeAnnounced}, "c4 c2"},
		{"profile", RecordFilter{Profile: "shop"}, "c7"},
		{"since", RecordFilter{Since: t0.Add(50 * time.Minute)}, "c7 c9 c8 c6"},
		{"until (exclusive)", RecordFilter{Until: t0.Add(20 * time.Minute)}, "c2 c1"},
		{"since and until", RecordFilter{Since: t0.Add(10 * time.Minute), Until: t0.Add(31 * time.Minute)}, "c4 c3 c2"},
		{"monitor only", RecordFilter{MonitorOnly: true}, "c9 c8 c6 c5"},
		{"monitor rejects", RecordFilter{MonitorOnly: true, Action: screening.Reject}, "c5"},
		{"limit", RecordFilter{Limit: 2}, "c7 c9"},
		{"limit offset", RecordFilter{Limit: 2, Offset: 2}, "c8 c6"},
		{"no limit", RecordFilter{Limit: -1, Offset: 7}, "c2 c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Records(t.Context(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if s := ids(got); s != tt.want {
				t.Errorf("Records(%+v) = %s, want %s", tt.f, s, tt.want)
			}
		})
	}
}

func TestRecordsDefaultLimit(t *testing.T) {
	st := newStore(t)
	for i := range DefaultRecordLimit + 5 {
		r := rec("id"+string(rune('A'+i/26))+string(rune('a'+i%26)), i, "+81312345678", screening.Ring, screening.OutcomeRang, false)
		if err := appendRecord(t.Context(), st, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Records(t.Context(), RecordFilter{})
	if err != nil || len(got) != DefaultRecordLimit {
		t.Errorf("Records = %d records, %v; want %d", len(got), err, DefaultRecordLimit)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	want := rec("1712345678.42", 5, "+442079460958", screening.Reject, screening.OutcomeAnnounced, false, "international")
	want.Detail = "hangup during prompt"
	want.Facts.Stir = []screening.StirResult{{Attestation: "C", VerifyResult: "Verification passed"}}
	if err := appendRecord(ctx, st, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.Record(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(want.Time) || got.Verdict.Reasons() != "international" || got.Detail != want.Detail ||
		got.Decision != want.Decision || len(got.Facts.Stir) != 1 || got.Facts.Stir[0].Attestation != "C" {
		t.Errorf("Record = %+v\nwant %+v", got, want)
	}

	// A record with an ID already logged never overwrites the first
	// row, through either write path; it is counted.
	forged := want
	forged.Outcome, forged.Verdict.Caller = screening.OutcomeAbandoned, "+81300000000"
	if err := appendRecord(ctx, st, forged); err != nil {
		t.Fatal(err)
	}
	row, err := encodeRecord(forged, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.appendRows(ctx, []recordRow{row}); err != nil {
		t.Fatal(err)
	}
	all, _ := st.Records(ctx, RecordFilter{})
	if len(all) != 1 || all[0].Outcome != want.Outcome || all[0].Verdict.Caller != want.Verdict.Caller {
		t.Errorf("after re-append: %d records, outcome %v, caller %v; want the first record kept", len(all), all[0].Outcome, all[0].Verdict.Caller)
	}
	if n := st.DuplicateRecords(); n != 2 {
		t.Errorf("DuplicateRecords = %d, want 2", n)
	}

	if _, err := st.Record(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Record(nope) = %v, want ErrNotFound", err)
	}
	if err := appendRecord(ctx, st, screening.Record{}); err == nil {
		t.Error("a record without ID was written")
	}
}

func TestSummary(t *testing.T) {
	st := newStore(t)
	loadCallLog(t, st)
	week := t0.Add(7 * 24 * time.Hour)

	sum, err := st.Summary(t.Context(), t0, week)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Calls != 8 || sum.Monitor != 4 {
		t.Errorf("Calls, Monitor = %d, %d; want 8, 4", sum.Calls, sum.Monitor)
	}
	wantActions := map[screening.Action]int{screening.Ring: 3, screening.Reject: 2, screening.NumberRequest: 1, screening.Voicemail: 1, screening.Challenge: 1}
	if !equalMaps(sum.ByAction, wantActions) {
		t.Errorf("ByAction = %v, want %v", sum.ByAction, wantActions)
	}
	wantOutcomes := map[screening.Outcome]int{screening.OutcomeRang: 6, screening.OutcomeAnnounced: 2}
	if !equalMaps(sum.ByOutcome, wantOutcomes) {
		t.Errorf("ByOutcome = %v, want %v", sum.ByOutcome, wantOutcomes)
	}
	// "1 call would have been rejected this week", ...
	wantWould := map[screening.Action]int{screening.Reject: 1, screening.Voicemail: 1, screening.Challenge: 1}
	if !equalMaps(sum.WouldHave, wantWould) {
		t.Errorf("WouldHave = %v, want %v", sum.WouldHave, wantWould)
	}
	wantInd := []IndicatorCount{{"international", 3}, {"brand-display", 1}, {"stir-failed", 1}, {"velocity-prefix", 1}, {"withheld", 1}}
	if len(sum.Indicators) != len(wantInd) {
		t.Fatalf("Indicators = %v, want %v", sum.Indicators, wantInd)
	}
	for i := range wantInd {
		if sum.Indicators[i] != wantInd[i] {
			t.Errorf("Indicators = %v, want %v", sum.Indicators, wantInd)
			break
		}
	}

	all, err := st.Summary(t.Context(), time.Time{}, time.Time{})
	if err != nil || all.Calls != 9 || all.ByAction[screening.Ring] != 4 {
		t.Errorf("open-ended summary: %d calls, %d ring, %v; want 9, 4", all.Calls, all.ByAction[screening.Ring], err)
	}
	empty, err := st.Summary(t.Context(), week.AddDate(1, 0, 0), time.Time{})
	if err != nil || empty.Calls != 0 || len(empty.Indicators) != 0 {
		t.Errorf("empty summary: %+v, %v", empty, err)
	}
}

func TestPurgeRecords(t *testing.T) {
	st := newStore(t)
	loadCallLog(t, st)
	n, err := st.PurgeRecords(t.Context(), t0.Add(30*time.Minute))
	if err != nil || n != 3 {
		t.Errorf("PurgeRecords = %d, %v; want 3", n, err)
	}
	got, _ := st.Records(t.Context(), RecordFilter{})
	if s := ids(got); s != "c7 c9 c8 c6 c5 c4" {
		t.Errorf("after purge: %s", s)
	}
}

// TestPurgeRecordsInChunks purges more records than one purge
// transaction deletes.
func TestPurgeRecordsInChunks(t *testing.T) {
	st := newStore(t)
	const old, recent = purgeChunk + 7, 5
	rows := make([]recordRow, 0, old+recent)
	for i := range old + recent {
		r := logRec(i)
		r.Time = t0.Add(time.Duration(i) * time.Millisecond)
		if i >= old {
			r.Time = t0.Add(time.Hour)
		}
		row, err := encodeRecord(r, t0)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if err := st.appendRows(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	n, err := st.PurgeRecords(t.Context(), t0.Add(time.Minute))
	if err != nil || n != old {
		t.Errorf("PurgeRecords = %d, %v; want %d", n, err, old)
	}
	if got := count(t, st); got != recent {
		t.Errorf("%d records left, want %d", got, recent)
	}
}

func equalMaps[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTenantCallLog checks the call log of a fleet: records keep their
// server and tenant, and the records, the summary and the daily counts
// can be had for one tenant.
func TestTenantCallLog(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	var rows []recordRow
	for i, r := range []struct{ server, tenant string }{{"pbx-a", "shop-a"}, {"pbx-a", "shop-a"}, {"pbx-b", "shop-b"}} {
		rc := rec(fmt.Sprintf("call-%d", i), i, "+81312345678", screening.Ring, screening.OutcomeRang, false)
		rc.Server, rc.Tenant = r.server, r.tenant
		row, err := encodeRecord(rc, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if err := st.appendRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    RecordFilter
		want int
	}{
		{RecordFilter{}, 3},
		{RecordFilter{Tenant: "shop-a"}, 2},
		{RecordFilter{Server: "pbx-b"}, 1},
		{RecordFilter{Server: "pbx-b", Tenant: "shop-a"}, 0},
	} {
		got, err := st.Records(ctx, tc.f)
		if err != nil || len(got) != tc.want {
			t.Errorf("Records(%+v): %d, %v; want %d", tc.f, len(got), err, tc.want)
		}
		for _, r := range got {
			if r.Server == "" || r.Tenant == "" {
				t.Errorf("record %s lost its server or tenant: %+v", r.ID, r)
			}
		}
	}
	for tenant, want := range map[string]int{"": 3, "shop-a": 2, "shop-b": 1, "shop-c": 0} {
		sum, err := st.SummaryFor(ctx, time.Time{}, time.Time{}, tenant)
		if err != nil || sum.Calls != want {
			t.Errorf("SummaryFor(%q): %d calls, %v; want %d", tenant, sum.Calls, err, want)
		}
		days, err := st.DailyCountsFor(ctx, t0.Add(-time.Hour), t0.Add(time.Hour), time.UTC, tenant)
		n := 0
		for _, d := range days {
			n += d.Calls
		}
		if err != nil || n != want {
			t.Errorf("DailyCountsFor(%q): %d calls, %v; want %d", tenant, n, err, want)
		}
	}
}

package service

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/metrics"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

func TestRetentionPurge(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name        string
		keep        time.Duration
		wantRecords []string // ids left
		wantPurged  int
	}{
		{"90 days", 90 * day, []string{"new", "89d"}, 2},
		{"one year", 365 * day, []string{"new", "89d", "91d"}, 1},
		{"keep everything", 0, []string{"new", "89d", "91d", "400d"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "callscreen.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			lw, err := store.NewLogWriter(ctx, st, store.LogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for id, age := range map[string]time.Duration{"new": time.Hour, "89d": 89 * day, "91d": 91 * day, "400d": 400 * day} {
				lw.Write(screening.Record{ID: id, Time: now.Add(-age), Mode: screening.ModeARI,
					Verdict: screening.Verdict{Caller: "+81312345678", Profile: "default", Action: screening.Ring}, Taken: screening.Ring, Outcome: screening.OutcomeRang})
			}
			if err := lw.Close(ctx); err != nil || lw.Written() != 4 {
				t.Fatalf("%d records written: %v", lw.Written(), err)
			}
			for _, e := range []screening.Entry{
				{Kind: screening.Block, Number: "+81312340001", Source: screening.SourceVelocity, Expires: now.Add(-time.Minute)}, // an expired throttle
				{Kind: screening.Allow, Number: "+81312340002", Source: screening.SourceChallenge, Expires: now.Add(-day)},
				{Kind: screening.Block, Number: "+81312340003", Source: screening.SourceVelocity, Expires: now.Add(time.Hour)},
				{Kind: screening.Block, Number: "+81312340004", Source: screening.SourceOperator},
			} {
				if err := st.Put(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			r := New(st, nil, Options{Retention: tt.keep, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			m := metrics.New(nil)
			m.WatchRetention(r)
			if err := r.purge(ctx, now); err != nil {
				t.Fatal(err)
			}

			recs, err := st.Records(ctx, store.RecordFilter{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, rec := range recs {
				left = append(left, rec.ID)
			}
			if strings.Join(left, " ") != strings.Join(tt.wantRecords, " ") {
				t.Errorf("records left %v, want %v", left, tt.wantRecords)
			}
			es, err := st.Entries(ctx, store.ListFilter{IncludeExpired: true, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 2 {
				t.Errorf("list entries left %v, want the 2 in force", es)
			}
			w := httptest.NewRecorder()
			m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
			for _, want := range []string{
				"callscreen_purged_records_total " + strconv.Itoa(tt.wantPurged),
				"callscreen_purged_list_entries_total 2",
			} {
				if !strings.Contains(w.Body.String(), want+"\n") {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}

package service

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// TestOwnWritesSurviveReload checks that what serve itself adds to the
// lists (a caller remembered after a challenge, an automatic throttle)
// while a list reload is in flight is not undone when the reload installs
// a snapshot read before the change.
func TestOwnWritesSurviveReload(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		entry screening.Entry
		write func(s *Service, e screening.Entry) error
	}{
		{
			name:  "remembered caller",
			entry: screening.Entry{Kind: screening.Allow, Number: "+819011112222", Source: screening.SourceChallenge, Expires: now.Add(time.Hour)},
			write: func(s *Service, e screening.Entry) error { return s.Remember(t.Context(), e) },
		},
		{
			name:  "throttle",
			entry: screening.Entry{Kind: screening.Block, Number: "+819033334444", Source: screening.SourceVelocity, Expires: now.Add(time.Hour)},
			write: func(s *Service, e screening.Entry) error { s.block(e); return nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callscreen.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			lists := screening.NewLists(nil)
			sink := New(st, lists, Options{Logger: quiet()})
			held := func(when string) {
				t.Helper()
				if _, ok := lists.Lookup(tt.entry.Kind, tt.entry.Number, now); !ok {
					t.Fatalf("%s: %s is not on the %s list", when, tt.entry.Number, tt.entry.Kind)
				}
			}

			snap, err := st.Snapshot(t.Context(), now) // the reload reads...
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(sink, tt.entry); err != nil { // ...serve changes a list...
				t.Fatal(err)
			}
			lists.Replace(snap) // ...and the reload installs what it read.
			held("after a reload that started before the change")

			// Once stored, a later reload includes it.
			deadline := time.Now().Add(30 * time.Second)
			for {
				es, err := st.Entries(t.Context(), store.ListFilter{Kind: tt.entry.Kind})
				if err != nil {
					t.Fatal(err)
				}
				if len(es) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the change never reached the store")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if snap, err = st.Snapshot(t.Context(), now); err != nil {
				t.Fatal(err)
			}
			lists.Replace(snap)
			held("after the next reload")
		})
	}
}

package main

import (
	"errors"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

func TestHolds(t *testing.T) {
	o := options{rate: 2, limit: time.Second}
	good := stepResult{Latencies: []float64{10, 20, 900}, Calls: 100, Written: 100, MaxPending: 5, Drain: 50 * time.Millisecond}
	for _, tc := range []struct {
		name string
		edit func(*stepResult)
		want bool
	}{
		{"within every bound", func(*stepResult) {}, true},
		{"p99 over the limit", func(r *stepResult) { r.Latencies = []float64{10, 20, 1001} }, false},
		{"nothing delivered", func(r *stepResult) { r.Latencies = nil }, false},
		{"a delivery missed", func(r *stepResult) { r.Missed = 1 }, false},
		{"records behind", func(r *stepResult) { r.Written = 99 }, false},
		{"a record dropped", func(r *stepResult) { r.Dropped = 1 }, false},
		{"a backlog of seconds", func(r *stepResult) { r.MaxPending = 17 }, false},
		{"a slow drain", func(r *stepResult) { r.Drain = 5 * time.Second }, false},
		{"a write refused", func(r *stepResult) { r.WriteErrors = 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			if got := r.holds(o); got != tc.want {
				t.Errorf("holds = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSimCountsFollowers: a change is timed from its commit at the
// servers other than its writer, and a refused write is no commit.
func TestSimCountsFollowers(t *testing.T) {
	sm := &sim{changes: map[string]*tracked{}}
	writer, follower := &server{idx: 0}, &server{idx: 1}
	t0 := time.Unix(1000, 0)
	sm.track("+819000000001", writer.idx, 1, t0)
	sm.wrote("+819000000001", t0, t0.Add(30*time.Millisecond), errors.New("database down"))
	sm.wrote("+819000000001", t0, t0.Add(80*time.Millisecond), nil)
	cs := store.ChangeSet{Changes: []store.ListChange{{Entry: screening.Entry{Kind: screening.Allow, Number: "+819000000001"}}}}
	sm.received(writer, cs, t0.Add(90*time.Millisecond)) // its own change: not counted
	sm.received(follower, cs, t0.Add(100*time.Millisecond))

	tr := sm.changes["+819000000001"]
	if !tr.committed.Equal(t0.Add(80 * time.Millisecond)) {
		t.Errorf("committed at %v, want the successful write's end", tr.committed.Sub(t0))
	}
	if len(tr.received) != 1 || tr.received[0].Sub(tr.committed) != 20*time.Millisecond {
		t.Errorf("received %v, want one delivery 20ms after the commit", tr.received)
	}
	if sm.writeErrors != 1 || len(sm.writeMs) != 1 || sm.writeMs[0] != 80 {
		t.Errorf("writes: %d errors, %v ms; want 1 error and one write of 80 ms", sm.writeErrors, sm.writeMs)
	}
}

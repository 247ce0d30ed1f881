package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/screening"
)

// TestPostgresOutage kills the fleet database under a running server's
// call log writer and list changes: records keep being accepted (in memory
// and in the journal) and are all written once it is back; a list change
// made meanwhile is refused, never half made; the lists version and the
// feed carry on.
func TestPostgresOutage(t *testing.T) {
	// Commits survive the kill, as on a production server.
	cl := pgtest.New(t, pgtest.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	db := cl.URL("postgres")
	ctx := t.Context()
	st, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, _ := testLogger()
	journal := filepath.Join(t.TempDir(), "pending")
	// A queue shorter than the outage: the rest wait in the journal alone.
	w := newLogWriter(t, st, LogOptions{Linger: time.Millisecond, Journal: journal, Logger: log, Buffer: 64})

	const before, during = 50, 300
	for i := range before {
		w.Write(logRec(i))
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	v0, err := st.ListsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := cl.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := before; i < before+during; i++ {
		w.Write(logRec(i))
	}
	putCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = st.PutVersion(putCtx, screening.Entry{Kind: screening.Block, Number: "+815011112222", Source: screening.SourceOperator})
	cancel()
	if err == nil {
		t.Fatal("a list change during the outage: no error")
	}
	time.Sleep(300 * time.Millisecond)
	if got := w.Pending(); got != during {
		t.Errorf("records pending during the outage: %d, want %d", got, during)
	}
	if got := w.Dropped(); got != 0 {
		t.Errorf("records dropped during the outage: %d", got)
	}

	if err := cl.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for w.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	w.Flush(ctx) // reports the outage's failed writes
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush after the outage: %v", err)
	}
	recs, err := st.Records(ctx, RecordFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != before+during {
		t.Errorf("records in the database after the outage: %d, want %d", len(recs), before+during)
	}
	// The refused change left nothing behind, and the next one works.
	if v, err := st.ListsVersion(ctx); err != nil || v != v0 {
		t.Errorf("lists version after the refused change: %d, %v; want %d", v, err, v0)
	}
	v, err := st.PutVersion(ctx, screening.Entry{Kind: screening.Block, Number: "+815011112222", Source: screening.SourceOperator})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := st.Changes(ctx, v0, "")
	if err != nil || cs.Reload || len(cs.Changes) != 1 || cs.Changes[0].Version != v {
		t.Errorf("feed after the outage: %+v, %v; want the one change at %d", cs, err, v)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// failingStore refuses every write.
type failingStore struct{ Store }

func (failingStore) PutVersion(context.Context, screening.Entry) (int64, error) {
	return 0, errors.New("disk full")
}
func (failingStore) DeleteVersion(context.Context, string, screening.ListKind, string) (bool, int64, error) {
	return false, 0, errors.New("disk full")
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestWriteOrder checks the one order of a list change: a change the
// store refuses does not reach the live lists, and one it takes does.
func TestWriteOrder(t *testing.T) {
	now := time.Now()
	e := screening.Entry{Kind: screening.Block, Number: "+819011112222", Source: screening.SourceOperator, Created: now}
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callscreen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name    string
		store   Store
		wantErr bool
	}{
		{"store takes it", st, false},
		{"store refuses it", failingStore{st}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.store, nil, Options{Logger: quiet()})
			err := s.Put(t.Context(), e)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Put: %v, want error %v", err, tt.wantErr)
			}
			if _, ok := s.Lists().Lookup(e.Kind, e.Number, now); ok == tt.wantErr {
				t.Errorf("live lists hold the entry: %v, want %v", ok, !tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			removed, err := s.Delete(t.Context(), "", e.Kind, e.Number)
			if err != nil || !removed {
				t.Fatalf("Delete: %v, %v", removed, err)
			}
			if _, ok := s.Lists().Lookup(e.Kind, e.Number, now); ok {
				t.Error("live lists still hold the deleted entry")
			}
		})
	}
}

// TestWriteThrottles checks that a record whose verdict throttles its
// caller blocks the number at once and stores the block.
func TestWriteThrottles(t *testing.T) {
	now := time.Now()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callscreen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(st, nil, Options{Logger: quiet()})
	block := screening.Entry{Kind: screening.Block, Number: "+819033334444", Source: screening.SourceVelocity, Expires: now.Add(time.Hour), Created: now}
	s.Write(screening.Record{Verdict: screening.Verdict{Block: &block}})
	if _, ok := s.Lists().Lookup(screening.Block, block.Number, now); !ok {
		t.Fatal("the throttle is not on the live block list")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		es, err := st.Entries(t.Context(), store.ListFilter{Kind: screening.Block})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 && es[0].Number == block.Number {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the throttle never reached the store: %v", es)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flakyStore refuses the first failures writes, as a database in an
// outage does, then takes them.
type flakyStore struct {
	Store
	mu       sync.Mutex
	failures int
}

func (f *flakyStore) PutVersion(ctx context.Context, e screening.Entry) (int64, error) {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		return 0, errors.New("connection refused")
	}
	f.mu.Unlock()
	return f.Store.PutVersion(ctx, e)
}

// TestRememberThroughOutage checks that a caller remembered while the
// database refuses writes is in the live lists at once, and in the store
// once it takes writes again: queued and applied, not dropped.
func TestRememberThroughOutage(t *testing.T) {
	now := time.Now()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callscreen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flaky := &flakyStore{Store: st, failures: 3}
	s := New(flaky, nil, Options{Logger: quiet(), Tenant: "shop-a"})
	e := screening.Entry{Kind: screening.Allow, Number: "+819011112222", Source: screening.SourceChallenge, Created: now, Expires: now.Add(time.Hour)}
	if err := s.Remember(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lists().Lookup(e.Kind, e.Number, now); !ok {
		t.Error("the live lists do not hold the remembered caller during the outage")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.PendingWrites() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got, err := st.Entries(t.Context(), store.ListFilter{Kind: screening.Allow, Tenants: []string{"shop-a"}})
	if err != nil || len(got) != 1 || got[0].Number != e.Number {
		t.Errorf("store after the outage: %v, %v; want the remembered caller in shop-a's scope", got, err)
	}
	if s.PendingWrites() != 0 {
		t.Errorf("pending writes after the outage: %d", s.PendingWrites())
	}
}

// TestFleetThrottle checks that a fleet throttle lands fleet-wide, and
// never turns a fleet-wide operator block into one that expires.
func TestFleetThrottle(t *testing.T) {
	now := time.Now()
	const number = "+815012340001"
	throttle := screening.Entry{Kind: screening.Block, Number: number, Source: screening.SourceFleetSweep, Reason: "swept the fleet", Created: now, Expires: now.Add(time.Hour)}
	for _, tt := range []struct {
		name       string
		have       *screening.Entry
		wantSource string
	}{
		{"no entry", nil, screening.SourceFleetSweep},
		{"an operator's fleet-wide block", &screening.Entry{Kind: screening.Block, Number: number, Source: screening.SourceOperator, Created: now}, screening.SourceOperator},
		{"a tenant's own block", &screening.Entry{Kind: screening.Block, Number: number, Source: screening.SourceOperator, Created: now, Tenant: "shop-a"}, screening.SourceFleetSweep},
		{"an earlier throttle", &screening.Entry{Kind: screening.Block, Number: number, Source: screening.SourceVelocity, Created: now, Expires: now.Add(time.Minute)}, screening.SourceFleetSweep},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callscreen.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			s := New(st, nil, Options{Logger: quiet(), Tenant: "shop-a"})
			if tt.have != nil {
				if err := s.Put(t.Context(), *tt.have); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.FleetThrottle(t.Context(), throttle); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(5 * time.Second); s.PendingWrites() > 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			fleetWide, err := st.Entries(t.Context(), store.ListFilter{Kind: screening.Block, Tenants: []string{""}})
			if err != nil || len(fleetWide) != 1 || fleetWide[0].Source != tt.wantSource {
				t.Errorf("fleet-wide block entries: %+v, %v; want one from %s", fleetWide, err, tt.wantSource)
			}
		})
	}
}

package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
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

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.Context(), testDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func sighting(number, tenant, server string, minute time.Time, calls, failed int) screening.Sighting {
	return screening.Sighting{Number: number, Tenant: tenant, Server: server, Minute: minute, Calls: calls, Failed: failed}
}

func aggsByKey(aggs []screening.SweepAggregate) map[string]screening.SweepAggregate {
	m := make(map[string]screening.SweepAggregate, len(aggs))
	for _, a := range aggs {
		m[a.Key] = a
	}
	return m
}

func TestPublishSightings(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	now := time.Now().UTC().Truncate(time.Minute)
	const robo, robo2 = "+819011112222", "+819011112999"
	// Two servers of tenant a, one each of b and c; an old sighting of d.
	steps := []struct {
		in   []screening.Sighting
		want map[string]screening.SweepAggregate // key: tenants, names, calls, failed
	}{
		{[]screening.Sighting{sighting(robo, "a", "a1", now, 1, 0)}, map[string]screening.SweepAggregate{
			robo:          {Tenants: 1, Names: []string{"a"}, Calls: 1},
			"+819011112*": {Tenants: 1, Names: []string{"a"}, Calls: 1},
		}},
		{[]screening.Sighting{sighting(robo, "a", "a2", now, 1, 1), sighting(robo, "a", "a2", now, 1, 0)}, map[string]screening.SweepAggregate{
			robo: {Tenants: 1, Names: []string{"a"}, Calls: 3, Failed: 1},
		}},
		{[]screening.Sighting{sighting(robo, "b", "b1", now.Add(-time.Minute), 2, 2), sighting(robo, "d", "d1", now.Add(-20*time.Minute), 5, 5)}, map[string]screening.SweepAggregate{
			robo: {Tenants: 2, Names: []string{"a", "b"}, Calls: 5, Failed: 3},
		}},
		// A row already there (a1's minute) is added to, counted once.
		{[]screening.Sighting{sighting(robo, "a", "a1", now, 1, 0)}, map[string]screening.SweepAggregate{
			robo: {Tenants: 2, Names: []string{"a", "b"}, Calls: 6, Failed: 3},
		}},
		{[]screening.Sighting{sighting(robo2, "c", "c1", now, 1, 1)}, map[string]screening.SweepAggregate{
			robo2:         {Tenants: 1, Names: []string{"c"}, Calls: 1, Failed: 1},
			"+819011112*": {Tenants: 3, Names: []string{"a", "b", "c"}, Calls: 7, Failed: 4},
		}},
	}
	for i, step := range steps {
		got, err := st.PublishSightings(ctx, step.in, 10*time.Minute)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		m := aggsByKey(got)
		for k, w := range step.want {
			g, ok := m[k]
			if !ok {
				t.Errorf("step %d: no aggregate for %s in %+v", i, k, got)
				continue
			}
			if g.Tenants != w.Tenants || !slices.Equal(g.Names, w.Names) || g.Calls != w.Calls || g.Failed != w.Failed {
				t.Errorf("step %d: %s = %+v, want %+v", i, k, g, w)
			}
			if g.Last.Before(now.Add(-time.Minute)) || g.Last.After(now) {
				t.Errorf("step %d: %s last %v, want within the last minute of %v", i, k, g.Last, now)
			}
		}
	}

	all, err := st.SweepAggregates(ctx, 10*time.Minute, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := aggsByKey(all)
	if len(m) != 3 || m[robo].Tenants != 2 || m[robo2].Failed != 1 || m["+819011112*"].Tenants != 3 {
		t.Errorf("interesting aggregates %+v, want %s (2 tenants), %s (1 failed) and its prefix (3 tenants)", all, robo, robo2)
	}
	if all, err = st.SweepAggregates(ctx, 10*time.Minute, 3, 4); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Key != "+819011112*" {
		t.Errorf("with higher thresholds %+v, want the prefix only", all)
	}
}

// Concurrent publishers of one number's failures: each step of the failed
// count is seen by exactly one of them.
func TestPublishSightingsSerialized(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	now := time.Now().UTC().Truncate(time.Minute)
	const n = 12
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aggs, err := st.PublishSightings(ctx, []screening.Sighting{sighting("+819011112222", fmt.Sprint("t", i), "s", now, 1, 1)}, 10*time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen = append(seen, aggsByKey(aggs)["+819011112222"].Failed)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(seen)
	for i, f := range seen {
		if f != i+1 {
			t.Fatalf("failed counts seen %v, want 1..%d each once", seen, n)
		}
	}
}

func TestSweepPayloads(t *testing.T) {
	var aggs []screening.SweepAggregate
	for i := range 200 {
		aggs = append(aggs, screening.SweepAggregate{Key: fmt.Sprintf("+8190%08d", i), Tenants: 3, Names: []string{"shop-a", "shop-b", "shop-c"},
			Calls: 4, Failed: 2, Last: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)})
	}
	payloads, err := sweepPayloads(aggs, 7900)
	if err != nil {
		t.Fatal(err)
	}
	if len(payloads) < 2 {
		t.Fatalf("%d payloads for %d aggregates, want them split", len(payloads), len(aggs))
	}
	var back []screening.SweepAggregate
	for _, p := range payloads {
		if len(p) > 7900 {
			t.Errorf("payload of %d bytes", len(p))
		}
		var part []screening.SweepAggregate
		if err := json.Unmarshal([]byte(p), &part); err != nil {
			t.Fatal(err)
		}
		back = append(back, part...)
	}
	if len(back) != len(aggs) || back[199].Key != aggs[199].Key || !slices.Equal(back[0].Names, aggs[0].Names) {
		t.Errorf("round trip lost aggregates: %d of %d", len(back), len(aggs))
	}
	if _, err := sweepPayloads([]screening.SweepAggregate{{Key: strings.Repeat("9", 9000)}}, 7900); err == nil {
		t.Error("an aggregate larger than a payload: no error")
	}
}

// On PostgreSQL a broadcast reaches the other servers' WatchSweeps.
func TestBroadcastSweeps(t *testing.T) {
	if !onPostgres() {
		t.Skip("NOTIFY is PostgreSQL's; on SQLite the exchange is local")
	}
	db := testDatabase(t)
	a, err := Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan []screening.SweepAggregate, 10)
	ready := make(chan struct{}, 10)
	go b.WatchSweeps(ctx, func(x []screening.SweepAggregate) { got <- x }, func() { ready <- struct{}{} })
	<-ready
	var aggs []screening.SweepAggregate
	for i := range 300 {
		aggs = append(aggs, screening.SweepAggregate{Key: fmt.Sprintf("+8190%08d", i), Tenants: 2, Names: []string{"a", "b"}, Failed: 1})
	}
	start := time.Now()
	if err := a.BroadcastSweeps(ctx, aggs); err != nil {
		t.Fatal(err)
	}
	var n int
	for n < len(aggs) {
		select {
		case x := <-got:
			n += len(x)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d of %d aggregates", n, len(aggs))
		}
	}
	t.Logf("%d aggregates broadcast and received in %v", n, time.Since(start))
}

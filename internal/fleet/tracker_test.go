package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// record is a finished call from number to tenant at at.
func record(number, tenant string, at time.Time, outcome screening.Outcome) screening.Record {
	return screening.Record{
		Time:    at,
		Tenant:  tenant,
		Mode:    screening.ModeARI,
		Verdict: screening.Verdict{Caller: number, Presence: screening.Presented},
		Outcome: outcome,
	}
}

// fleetOf returns n trackers, tenants t0..t(n-1), sharing one Memory and
// reading the clock *now.
func fleetOf(n int, now *time.Time, cfg Config, throttle func(context.Context, screening.Entry) error) ([]*Tracker, *Memory) {
	clock := func() time.Time { return *now }
	m := NewMemory(clock)
	ts := make([]*Tracker, n)
	for i := range ts {
		c := cfg
		c.Server, c.Tenant = fmt.Sprintf("s%d", i), fmt.Sprintf("t%d", i)
		ts[i] = New(c, Options{Exchange: m, Broadcaster: m, Throttle: throttle, Now: clock})
		m.Subscribe(ts[i])
	}
	return ts, m
}

func TestTrackerCounts(t *testing.T) {
	const (
		robo  = "+819011112222"
		robo2 = "+819011112333" // same prefix
		other = "+81312345678"
	)
	type call struct {
		server int
		number string
		after  time.Duration
		failed bool
	}
	tests := []struct {
		name   string
		calls  []call
		lookup int    // server asking
		number string // asked for
		at     time.Duration
		want   screening.SweepCounts
	}{
		{"nothing seen", nil, 0, robo, 0, screening.SweepCounts{}},
		{"called here only", []call{{0, robo, 0, false}, {0, robo, time.Minute, false}}, 0, robo, 2 * time.Minute, screening.SweepCounts{}},
		{"called two others", []call{{1, robo, 0, false}, {2, robo, 0, false}}, 0, robo, time.Minute, screening.SweepCounts{Tenants: 2, PrefixTenants: 2}},
		{"own tenant not counted", []call{{0, robo, 0, false}, {1, robo, 0, false}, {2, robo, 0, true}}, 0, robo, time.Minute,
			screening.SweepCounts{Tenants: 2, Failed: 1, PrefixTenants: 2, PrefixFailed: 1}},
		{"failures add up", []call{{1, robo, 0, true}, {1, robo, time.Minute, true}, {2, robo, time.Minute, true}}, 3, robo, 2 * time.Minute,
			screening.SweepCounts{Tenants: 2, Failed: 3, PrefixTenants: 2, PrefixFailed: 3}},
		// One tenant called is not news: only aggregates of two tenants or a
		// failure travel.
		{"prefix of rotating numbers", []call{{1, robo, 0, false}, {2, robo2, 0, false}, {3, robo2, 0, false}}, 0, robo, time.Minute,
			screening.SweepCounts{PrefixTenants: 3}},
		{"another number", []call{{1, robo, 0, true}, {2, robo, 0, true}}, 0, other, time.Minute, screening.SweepCounts{}},
		{"out of the window", []call{{1, robo, 0, true}, {2, robo, 0, true}}, 0, robo, 12 * time.Minute, screening.SweepCounts{}},
		{"half out of the window", []call{{1, robo, 0, true}, {2, robo, 9 * time.Minute, true}}, 0, robo, 10 * time.Minute,
			screening.SweepCounts{Tenants: 2, Failed: 2, PrefixTenants: 2, PrefixFailed: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			ts, _ := fleetOf(4, &now, Config{Window: 10 * time.Minute}, nil)
			for _, c := range tt.calls {
				now = t0.Add(c.after)
				out := screening.OutcomeRang
				if c.failed {
					out = screening.OutcomeChallengeFailed
				}
				ts[c.server].Observe(record(c.number, ts[c.server].cfg.Tenant, now, out))
				if err := ts[c.server].Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			now = t0.Add(tt.at)
			want := tt.want
			want.Window = 10 * time.Minute
			if got := ts[tt.lookup].Lookup(tt.number, now); got != want {
				t.Errorf("Lookup = %+v, want %+v", got, want)
			}
		})
	}
}

// A failed challenge counts at once at its own server, before any
// publish; and a check or a withheld number does not count.
func TestTrackerObserve(t *testing.T) {
	now := t0
	ts, _ := fleetOf(1, &now, Config{}, nil)
	tr := ts[0]
	tr.Observe(record("+819011112222", "t0", now, screening.OutcomeChallengeFailed))
	if got := tr.Lookup("+819011112222", now); got.Failed != 1 || got.Tenants != 0 {
		t.Errorf("unpublished failure: %+v, want Failed 1, Tenants 0", got)
	}
	check := record("+819033334444", "t0", now, screening.OutcomeChallengeFailed)
	check.Mode = screening.ModeCheck
	withheld := record("anonymous", "t0", now, screening.OutcomeChallengeFailed)
	withheld.Verdict.Presence = screening.Withheld
	tr.Observe(check)
	tr.Observe(withheld)
	if n := len(tr.pending); n != 1 {
		t.Errorf("%d pending sightings, want 1 (checks and withheld numbers are not counted)", n)
	}
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tr.Lookup("+819011112222", now); got.Failed != 1 {
		t.Errorf("after publishing: %+v, want Failed 1 (not counted twice)", got)
	}
}

// failing is an exchange that fails until told otherwise.
type failing struct {
	*Memory
	mu   sync.Mutex
	down bool
}

func (f *failing) PublishSightings(ctx context.Context, s []screening.Sighting, w time.Duration) ([]screening.SweepAggregate, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	return f.Memory.PublishSightings(ctx, s, w)
}

func TestTrackerExchangeDown(t *testing.T) {
	now := t0
	m := NewMemory(func() time.Time { return now })
	ex := &failing{Memory: m, down: true}
	a := New(Config{Server: "a", Tenant: "ta"}, Options{Exchange: ex, Now: func() time.Time { return now }})
	b := New(Config{Server: "b", Tenant: "tb"}, Options{Exchange: m, Now: func() time.Time { return now }})
	a.Observe(record("+819011112222", "ta", now, screening.OutcomeChallengeFailed))
	a.Observe(record("+819011112222", "ta", now, screening.OutcomeChallengeFailed))
	if err := a.Flush(context.Background()); err == nil {
		t.Fatal("Flush with the exchange down: no error")
	}
	if got := a.Lookup("+819011112222", now); got.Failed != 2 {
		t.Errorf("while down: %+v, want the 2 local failures", got)
	}
	if st := a.Stats(); st.Pending != 1 || st.Failed != 1 || st.Published != 0 || !st.LastPublish.IsZero() {
		t.Errorf("while down: stats %+v, want 1 pending sighting and 1 failed publish", st)
	}
	ex.mu.Lock()
	ex.down = false
	ex.mu.Unlock()
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Pending != 0 || st.Published != 1 || st.LastPublish.IsZero() {
		t.Errorf("after the outage: stats %+v, want nothing pending and 1 publish", st)
	}
	b.Observe(record("+819011112222", "tb", now, screening.OutcomeRang))
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := b.Lookup("+819011112222", now); got.Failed != 2 || got.Tenants != 1 {
		t.Errorf("after the outage, b sees %+v, want Failed 2 (none lost, none doubled), Tenants 1", got)
	}
}

// Exactly one server throttles a number whose failures cross the
// threshold, however many publish them.
func TestTrackerThrottleOnce(t *testing.T) {
	now := t0
	var mu sync.Mutex
	var puts []screening.Entry
	put := func(_ context.Context, e screening.Entry) error {
		mu.Lock()
		puts = append(puts, e)
		mu.Unlock()
		return nil
	}
	ts, _ := fleetOf(8, &now, Config{Throttle: 30 * time.Minute, ThrottleFailed: 2}, put)
	var wg sync.WaitGroup
	for _, tr := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.Observe(record("+819011112222", tr.cfg.Tenant, now, screening.OutcomeChallengeFailed))
			if err := tr.Flush(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(puts) != 1 {
		t.Fatalf("%d throttles put, want 1: %+v", len(puts), puts)
	}
	e := puts[0]
	if e.Kind != screening.Block || e.Number != "+819011112222" || e.Tenant != "" || e.Source != screening.SourceFleetSweep || !e.Expires.Equal(now.Add(30*time.Minute)) {
		t.Errorf("throttle %+v, want a fleet-wide block from fleet-sweep for 30m", e)
	}
	if !strings.Contains(e.Reason, "failed the challenge 2 times at 2 businesses of the fleet in the last 10m") {
		t.Errorf("throttle reason %q", e.Reason)
	}
	if err := screening.ValidateEntrySource(e.Kind, e.Source, e.Expires); err != nil {
		t.Errorf("the throttle would be refused: %v", err)
	}
	// Off unless configured.
	puts = nil
	ts, _ = fleetOf(3, &now, Config{ThrottleFailed: 2}, put)
	for _, tr := range ts {
		tr.Observe(record("+819011113333", tr.cfg.Tenant, now, screening.OutcomeChallengeFailed))
		tr.Flush(context.Background())
	}
	if len(puts) != 0 {
		t.Errorf("throttle off: %d put", len(puts))
	}
}

func TestTrackerExpire(t *testing.T) {
	now := t0
	ts, _ := fleetOf(2, &now, Config{Window: 10 * time.Minute}, nil)
	for i := range 100 {
		n := fmt.Sprintf("+8190%08d", i)
		ts[0].Observe(record(n, "t0", now, screening.OutcomeChallengeFailed))
	}
	ts[0].Flush(context.Background())
	if ts[1].Len() == 0 {
		t.Fatal("the broadcast reached nobody")
	}
	now = now.Add(12 * time.Minute)
	ts[0].expire(now)
	ts[1].expire(now)
	if a, b := ts[0].Len(), ts[1].Len(); a != 0 || b != 0 {
		t.Errorf("after the window: %d and %d tracked, want 0", a, b)
	}
}

// Run carries a sweep seen at one server to another's Lookup promptly.
func TestTrackerPropagation(t *testing.T) {
	m := NewMemory(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ts []*Tracker
	for i := range 3 {
		tr := New(Config{Server: fmt.Sprint(i), Tenant: fmt.Sprint(i), FlushEvery: time.Hour}, Options{Exchange: m, Broadcaster: m})
		m.Subscribe(tr)
		ts = append(ts, tr)
		go tr.Run(ctx)
	}
	start := time.Now()
	ts[0].Observe(record("+819011112222", "0", start, screening.OutcomeRang))
	ts[1].Observe(record("+819011112222", "1", start, screening.OutcomeChallengeFailed))
	for ts[2].Lookup("+819011112222", time.Now()) != (screening.SweepCounts{Window: 10 * time.Minute, Tenants: 2, Failed: 1, PrefixTenants: 2, PrefixFailed: 1}) {
		if time.Since(start) > time.Second {
			t.Fatalf("not propagated within 1s: %+v", ts[2].Lookup("+819011112222", time.Now()))
		}
		time.Sleep(50 * time.Microsecond)
	}
	t.Logf("propagated in %v", time.Since(start))
}

func TestLookupAllocs(t *testing.T) {
	now := t0
	ts, _ := fleetOf(3, &now, Config{}, nil)
	for _, tr := range ts {
		tr.Observe(record("+819011112222", tr.cfg.Tenant, now, screening.OutcomeChallengeFailed))
		tr.Flush(context.Background())
	}
	if n := testing.AllocsPerRun(1000, func() { ts[0].Lookup("+819011112222", now) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	now := time.Now()
	ts, _ := fleetOf(2, &now, Config{}, nil)
	numbers := make([]string, 10000)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+8190%08d", i*7)
		ts[1].Observe(record(numbers[i], "t1", now, screening.OutcomeChallengeFailed))
	}
	ts[1].Flush(context.Background())
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ts[0].Lookup(numbers[i%len(numbers)], now)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				ts[0].Lookup(numbers[i%len(numbers)], now)
				i++
			}
		})
	})
}

// A tracker holds at most MaxNumbers numbers; what it cannot hold is still
// published.
func TestTrackerBounded(t *testing.T) {
	now := t0
	m := NewMemory(func() time.Time { return now })
	tr := New(Config{Server: "a", Tenant: "ta", MaxNumbers: 10}, Options{Exchange: m, Now: func() time.Time { return now }})
	for i := range 50 {
		tr.Observe(record(fmt.Sprintf("+8190%08d", i), "ta", now, screening.OutcomeRang))
	}
	if n := len(tr.numbers); n != 10 {
		t.Errorf("%d numbers held, want 10", n)
	}
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	aggs, _ := m.SweepAggregates(context.Background(), 10*time.Minute, 1, 0)
	var numbers int
	for _, a := range aggs {
		if !a.IsPrefix() {
			numbers++
		}
	}
	if numbers != 50 {
		t.Errorf("%d numbers published, want 50", numbers)
	}
}

func TestMinutes(t *testing.T) {
	for d, want := range map[time.Duration]string{10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m", 2*time.Hour + 5*time.Minute: "2h5m"} {
		if got := minutes(d); got != want {
			t.Errorf("minutes(%v) = %q, want %q", d, got, want)
		}
	}
}

// counting is an exchange that counts publishes.
type counting struct {
	*Memory
	publishes atomic.Int64
}

func (c *counting) PublishSightings(ctx context.Context, s []screening.Sighting, w time.Duration) ([]screening.SweepAggregate, error) {
	c.publishes.Add(1)
	return c.Memory.PublishSightings(ctx, s, w)
}

// A server that sees new numbers faster than MinGap publishes them in
// batches; a quiet one publishes each new number at once. Either way
// every sighting reaches the exchange.
func TestTrackerPublishGap(t *testing.T) {
	const gap = 200 * time.Millisecond
	tests := []struct {
		name    string
		numbers int
		every   time.Duration
		maxPubs int64
	}{
		// 100 new numbers in about half a second: one publish per linger
		// (about 25) without the gap.
		{"busy", 100, 5 * time.Millisecond, 6},
		// Numbers further apart than the gap: each its own publish,
		// before the next call.
		{"quiet", 3, 3 * gap, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ex := &counting{Memory: NewMemory(nil)}
			tr := New(Config{Server: "a", Tenant: "ta", MinGap: gap, FlushEvery: time.Hour, RefreshEvery: time.Hour}, Options{Exchange: ex})
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error)
			go func() { done <- tr.Run(rctx) }()
			for i := range tt.numbers {
				tr.Observe(record(fmt.Sprintf("+8190%08d", i), "ta", time.Now(), screening.OutcomeRang))
				time.Sleep(tt.every)
				if tt.every > gap {
					if got := ex.publishes.Load(); got != int64(i+1) {
						t.Errorf("after number %d: %d publishes, want %d", i+1, got, i+1)
					}
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := ex.publishes.Load(); got > tt.maxPubs {
				t.Errorf("%d publishes for %d numbers, want at most %d", got, tt.numbers, tt.maxPubs)
			}
			aggs, err := ex.SweepAggregates(ctx, 10*time.Minute, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			numbers := 0
			for _, a := range aggs {
				if !a.IsPrefix() {
					numbers++
				}
			}
			if numbers != tt.numbers {
				t.Errorf("the exchange holds %d numbers, want all %d", numbers, tt.numbers)
			}
		})
	}
}

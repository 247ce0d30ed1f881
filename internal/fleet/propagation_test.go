package fleet_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/fleet"
	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// TestPropagation measures how long a failed challenge at server A takes
// to reach server B's Lookup: A's Observe, its tracker's publish, the
// broadcast, B's merge. Each server has its own Store on PostgreSQL, or
// both share a Memory.
func TestPropagation(t *testing.T) {
	// Calls gap apart, as at a server that is not busy; a busier one
	// batches (TestTrackerPublishGap).
	const n, gap = 60, 250 * time.Millisecond
	for _, ex := range []string{"memory", "postgres"} {
		t.Run(ex, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var a, b *fleet.Tracker
			switch ex {
			case "memory":
				m := fleet.NewMemory(nil)
				a = fleet.New(fleet.Config{Server: "a", Tenant: "ta", MinGap: gap}, fleet.Options{Exchange: m, Broadcaster: m})
				b = fleet.New(fleet.Config{Server: "b", Tenant: "tb", MinGap: gap}, fleet.Options{Exchange: m, Broadcaster: m})
				m.Subscribe(a)
				m.Subscribe(b)
			case "postgres":
				pgtest.Need(t, pg)
				db := pg.NewDatabase(t)
				sa, err := store.Open(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				defer sa.Close()
				sb, err := store.Open(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				defer sb.Close()
				a = fleet.New(fleet.Config{Server: "a", Tenant: "ta", MinGap: gap}, fleet.Options{Exchange: sa, Broadcaster: sa})
				b = fleet.New(fleet.Config{Server: "b", Tenant: "tb", MinGap: gap}, fleet.Options{Exchange: sb, Broadcaster: sb})
				ready := make(chan struct{}, 1)
				go b.Follow(ctx, readyWatcher{sb, ready})
				<-ready
			}
			go a.Run(ctx)
			go b.Run(ctx)
			lat := make([]time.Duration, 0, n)
			var start time.Time
			for i := range n {
				number := fmt.Sprintf("+8190%04d%04d", time.Now().Nanosecond()%10000, i)
				time.Sleep(time.Until(start.Add(gap)))
				start = time.Now()
				a.Observe(record(number, "ta", start, screening.OutcomeChallengeFailed))
				for b.Lookup(number, time.Now()).Failed == 0 {
					if time.Since(start) > 2*time.Second {
						t.Fatalf("call %d: not at b within 2s", i)
					}
					time.Sleep(20 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			p50, p99 := lat[n/2], lat[n*99/100]
			t.Logf("%s: a failed challenge at A reaches B's Lookup in p50 %v, p99 %v, max %v (%d calls)", ex, p50, p99, lat[n-1], n)
			// Well under 100 ms typically; and even the slowest within
			// the second the fleet allows a list change to spread, on a
			// machine busy with other work.
			if p50 > 100*time.Millisecond || p99 > time.Second {
				t.Errorf("p50 %v, p99 %v; want under 100ms and 1s", p50, p99)
			}
		})
	}
}

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

// BenchmarkEvaluate compares the engine's cost per call without and with
// a fleet tracker holding 10,000 numbers.
func BenchmarkEvaluate(b *testing.B) {
	now := time.Now()
	m := fleet.NewMemory(nil)
	tr := fleet.New(fleet.Config{Server: "a", Tenant: "ta"}, fleet.Options{Exchange: m, Broadcaster: m})
	other := fleet.New(fleet.Config{Server: "b", Tenant: "tb"}, fleet.Options{Exchange: m, Broadcaster: m})
	m.Subscribe(tr)
	for i := range 10000 {
		other.Observe(record(fmt.Sprintf("+8190%08d", i*7), "tb", now, screening.OutcomeChallengeFailed))
	}
	if err := other.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	numbers := screening.NewNumbering(100000)
	for _, withFleet := range []bool{false, true} {
		prof := screening.DefaultProfile("default")
		pol := screening.Policy{
			Profiles: map[string]*screening.Profile{"default": &prof},
			Default:  "default",
			Trunks:   map[string]*screening.Trunk{"provider": {Trusted: true}},
		}
		if withFleet {
			pol.Fleet = tr
		}
		eng, err := screening.NewEngine(pol, screening.NewLists(nil), numbers, screening.NewVelocity(screening.DefaultVelocityConfig()))
		if err != nil {
			b.Fatal(err)
		}
		facts := make([]screening.Facts, 20000)
		for i := range facts {
			num := fmt.Sprintf("090%08d", i*7)
			facts[i] = screening.Facts{Time: now, Number: num, Called: "0355000001", Trunk: "provider", From: "<sip:" + num + "@203.0.113.10>"}
		}
		for i := range facts { // the numbering cache, warm for both
			eng.Evaluate(&facts[i], "")
		}
		b.Run(fmt.Sprintf("fleet=%v", withFleet), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f := facts[i%len(facts)]
				eng.Evaluate(&f, "")
			}
		})
	}
}

// readyWatcher tells when its store's listener is connected.
type readyWatcher struct {
	*store.Store
	ready chan struct{}
}

func (w readyWatcher) WatchSweeps(ctx context.Context, fn func([]screening.SweepAggregate), resync func()) {
	w.Store.WatchSweeps(ctx, fn, func() {
		resync()
		select {
		case w.ready <- struct{}{}:
		default:
		}
	})
}

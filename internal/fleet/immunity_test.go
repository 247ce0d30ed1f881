package fleet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/fleet"
	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// Time to immunity: how many calls of a robocall number sweeping the
// businesses of a fleet ring a desk phone before the fleet keeps it off,
// measured through the production path: each business's server has its
// own Tracker and engine (screening.Engine.Evaluate with a default JP
// profile reading the tracker), records its finished calls into the
// tracker, and the trackers exchange counts through Memory, SQLite or
// PostgreSQL (a throwaway cluster, internal/pgtest).

// simClock runs simulated time k times faster than the wall clock, so
// that a sweep over ten minutes takes seconds while the exchange between
// the servers runs at its real speed.
type simClock struct {
	real0, sim0 time.Time
	k           float64
}

func (c *simClock) Now() time.Time {
	return c.sim0.Add(time.Duration(float64(time.Since(c.real0)) * c.k))
}

// sleep waits for d of simulated time.
func (c *simClock) sleep(d time.Duration) { time.Sleep(time.Duration(float64(d) / c.k)) }

// simServer is one business's callscreen: its tenant, tracker, engine and
// live lists.
type simServer struct {
	name   string
	tenant string
	did    string
	tr     *fleet.Tracker
	eng    *screening.Engine
	lists  *screening.Lists
}

type sweep struct {
	name    string
	servers int
	calls   int
	over    time.Duration // the sweep's length, simulated
	k       float64       // time compression
	// number is the (national) number call i presents; tenant the index
	// of the business it calls.
	number func(i int) string
	tenant func(i int) int
	// allow puts numbers on one tenant's allow list.
	allow    map[int]string
	throttle time.Duration
	exchange string // memory, sqlite, postgres
	// inline publishes each call's record as it ends, in the calling
	// goroutine, rather than leaving it to the trackers' Run: the
	// outcome then does not depend on how busy the machine is.
	inline bool
}

type sweepResult struct {
	rang       int // rang a desk phone, allow-listed calls not counted
	allowed    int // calls of an allow-listed number at its tenant
	affected   int // of those, calls that did not ring
	throttles  int
	firstFound int // the call the fleet-sweep finding first fired on (1-based)
	actions    map[screening.Action]int
}

const (
	challengeTime = 8 * time.Second // a robodialer's failed challenge, until the record
	robo          = "09011112222"
)

func newSimServers(t *testing.T, ctx context.Context, sw sweep, clock *simClock, throttles *atomic.Int64) []*simServer {
	t.Helper()
	numbers := screening.NewNumbering(10000)
	servers := make([]*simServer, sw.servers)
	var (
		ex  fleet.Exchange
		bc  fleet.Broadcaster
		mem = fleet.NewMemory(clock.Now)
		st  *store.Store
		// pgStores: on PostgreSQL every ten servers share a Store (a
		// pool of connections) and its one listening connection, as
		// ten processes on ten machines would have ten: a hundred
		// listening backends and a hundred simulated servers would not
		// fit this machine's CPUs beside the database.
		pgStores []*store.Store
	)
	switch sw.exchange {
	case "memory":
		ex, bc = mem, mem
	case "sqlite":
		var err error
		st, err = store.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"))
		if err != nil {
			t.Fatal(err)
		}
		// One SQLite file is one server's: the servers of this simulation
		// share a process, so they broadcast in memory.
		ex, bc = st, mem
	case "postgres":
		pgtest.Need(t, pg)
		db := pg.NewDatabase(t)
		for range (sw.servers + 9) / 10 {
			s, err := store.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			pgStores = append(pgStores, s)
		}
	}
	if st != nil {
		t.Cleanup(func() { st.Close() })
	}
	ready := make(chan struct{}, len(pgStores))
	put := func(_ context.Context, e screening.Entry) error {
		throttles.Add(1)
		// The service puts it in the store; the change feed brings it to
		// every server's lists.
		for _, s := range servers {
			s.lists.Put(e)
		}
		return nil
	}
	for i := range servers {
		tenant := fmt.Sprintf("shop-%03d", i)
		prof := screening.DefaultProfile("default")
		prof.Sweep.Throttle = sw.throttle
		lists := screening.NewLists(nil)
		if n, ok := sw.allow[i]; ok {
			lists.Put(screening.Entry{Kind: screening.Allow, Number: numbers.Classify(n, "JP").E164, Source: screening.SourceOperator, Tenant: tenant, Reason: "a regular"})
		}
		var ps *store.Store
		if pgStores != nil {
			ps = pgStores[i/10]
			ex, bc = ps, ps
		}
		tr := fleet.New(fleet.Config{Server: fmt.Sprintf("pbx-%03d", i), Tenant: tenant, Throttle: sw.throttle, ThrottleFailed: prof.Sweep.Failed},
			fleet.Options{Exchange: ex, Broadcaster: bc, Throttle: put, Now: clock.Now})
		mem.Subscribe(tr)
		eng, err := screening.NewEngine(screening.Policy{
			Profiles: map[string]*screening.Profile{"default": &prof},
			Default:  "default",
			Trunks:   map[string]*screening.Trunk{"provider": {Trusted: true}},
			Fleet:    tr,
		}, lists, numbers, screening.NewVelocity(screening.VelocityConfig{Window: time.Minute, Buckets: 6, Width: 1024, Depth: 4, PrefixCut: 4}))
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = &simServer{name: fmt.Sprintf("pbx-%03d", i), tenant: tenant, did: fmt.Sprintf("0355%06d", i), tr: tr, eng: eng, lists: lists}
		go tr.Run(ctx)
	}
	for g, ps := range pgStores {
		group := servers[g*10 : min(g*10+10, len(servers))]
		go ps.WatchSweeps(ctx, func(a []screening.SweepAggregate) {
			for _, s := range group {
				s.tr.Receive(a)
			}
		}, func() {
			for _, s := range group {
				s.tr.Resync()
			}
			select {
			case ready <- struct{}{}:
			default:
			}
		})
	}
	if sw.exchange == "postgres" {
		// Every server follows the broadcasts before the sweep begins.
		for range pgStores {
			select {
			case <-ready:
			case <-time.After(time.Minute):
				t.Fatal("the servers' listeners did not connect within a minute")
			}
		}
		// Each connection made every server of its group read the
		// fleet's aggregates (Resync): a hundred reads on start-up
		// that a steady fleet does not have in front of its publishes.
		time.Sleep(2 * time.Second)
	}
	return servers
}

// run plays the sweep: call i reaches its business at i*over/calls; each
// call is evaluated when it arrives and recorded when it ends.
func (sw sweep) run(t *testing.T) sweepResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &simClock{real0: time.Now(), sim0: time.Now(), k: sw.k}
	var throttles atomic.Int64
	servers := newSimServers(t, ctx, sw, clock, &throttles)
	start := clock.Now()

	res := sweepResult{actions: make(map[screening.Action]int)}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	spacing := sw.over / time.Duration(sw.calls)
	for i := range sw.calls {
		if d := start.Add(time.Duration(i) * spacing).Sub(clock.Now()); d > 0 {
			clock.sleep(d)
		}
		s := servers[sw.tenant(i)]
		num := sw.number(i)
		f := &screening.Facts{
			ID: fmt.Sprint("call-", i), Time: clock.Now(), Number: num, Presentation: "allowed_not_screened",
			Called: s.did, Trunk: "provider", Source: "203.0.113.10:5060", From: "<sip:" + num + "@203.0.113.10>",
		}
		v := s.eng.Evaluate(f, "")
		allowed := sw.allow[sw.tenant(i)] == num
		mu.Lock()
		res.actions[v.Enforced]++
		switch {
		case allowed:
			res.allowed++
			if v.Enforced != screening.Ring {
				res.affected++
			}
		case v.Enforced == screening.Ring:
			res.rang++
		}
		for _, fd := range v.Findings {
			if fd.Indicator == screening.IndicatorFleetSweep && res.firstFound == 0 {
				res.firstFound = i + 1
			}
		}
		mu.Unlock()
		end := func() {
			r := screening.Record{ID: f.ID, Time: f.Time, Server: s.name, Tenant: s.tenant, Mode: screening.ModeARI,
				Facts: *f, Verdict: v, Taken: v.Enforced}
			switch v.Enforced {
			case screening.Ring:
				r.Outcome = screening.OutcomeRang
			case screening.Challenge:
				// A robodialer never presses the digit.
				clock.sleep(challengeTime)
				r.Outcome, r.Taken = screening.OutcomeChallengeFailed, screening.Voicemail
			case screening.Voicemail:
				r.Outcome = screening.OutcomeVoicemail
			default:
				r.Outcome = screening.OutcomeRejected
			}
			s.tr.Observe(r)
			if sw.inline {
				if err := s.tr.Flush(ctx); err != nil {
					t.Error(err)
				}
			}
		}
		if sw.inline && v.Enforced != screening.Challenge {
			end() // recorded, published and broadcast before the next call
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			end()
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // the last publishes and throttles
	res.throttles = int(throttles.Load())
	return res
}

// pg is the PostgreSQL cluster the tests share (internal/pgtest); nil
// when PostgreSQL is not installed.
var pg *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// TestTimeToImmunity plays a quick sweep in memory; with
// CALLSCREEN_FLEETSIM=1 it plays every rate on every exchange (about three
// minutes; PostgreSQL when it is installed, see internal/pgtest).
func TestTimeToImmunity(t *testing.T) {
	if testing.Short() {
		t.Skip("plays sweeps in real time")
	}
	type rate struct {
		over time.Duration
		k    float64
	}
	exchanges := []string{"memory"}
	rates := []rate{{time.Minute, 60}} // 600 ms between calls, played 10 ms apart
	allowRate := rate{time.Minute, 60}
	full := os.Getenv("CALLSCREEN_FLEETSIM") != ""
	inline := !full // the quick run checks the logic; the full one measures
	if full {
		exchanges = append(exchanges, "sqlite")
		if pg != nil {
			exchanges = append(exchanges, "postgres")
		}
		rates = []rate{
			{10 * time.Minute, 60}, // 6 s between calls, played 100 ms apart
			{time.Minute, 6},       // 600 ms, played 100 ms apart
			{10 * time.Second, 1},  // real time
			{time.Second, 1},       // real time, 10 ms between calls
		}
		allowRate = rate{10 * time.Second, 1}
	}
	one := func(int) string { return robo }
	each := func(i int) int { return i }
	for _, ex := range exchanges {
		for _, rate := range rates {
			if ex != "memory" && rate.k != 1 {
				continue // the store's window is the wall clock's
			}
			t.Run(fmt.Sprintf("%s/100 calls in %v", ex, rate.over), func(t *testing.T) {
				r := sweep{servers: 100, calls: 100, over: rate.over, k: rate.k, number: one, tenant: each,
					throttle: 30 * time.Minute, exchange: ex, inline: inline}.run(t)
				t.Logf("rang %d of 100; fleet-sweep first fired on call %d; actions %v; fleet throttles put %d", r.rang, r.firstFound, r.actions, r.throttles)
				if ex == "postgres" && rate.over < 10*time.Second {
					// 100 calls a second fanned out to 100 listening
					// servers that all run on this machine: a measurement
					// of the machine as much as of the design.
					return
				}
				// Calls closer together than the tracker's linger
				// cannot hear of each other: a sweep of 100 businesses in
				// a second (10 ms apart, against 20 ms) rings two more.
				want := 2
				if gap := rate.over / 100; gap < fleet.DefaultLinger {
					want += int(fleet.DefaultLinger / gap)
				}
				if r.rang > want {
					t.Errorf("%d calls rang, want at most %d", r.rang, want)
				}
				if r.throttles != 1 {
					t.Errorf("%d fleet throttles put, want 1", r.throttles)
				}
			})
		}
		// A robodialer presenting a regular's number (on shop-050's allow
		// list), sweeping every business and failing every challenge.
		t.Run(ex+"/an allow-listed number sweeping", func(t *testing.T) {
			r := sweep{servers: 100, calls: 100, over: allowRate.over, k: allowRate.k, number: one, tenant: each,
				allow: map[int]string{50: robo}, throttle: 30 * time.Minute, exchange: ex, inline: inline}.run(t)
			t.Logf("at its tenant: %d of %d calls affected; elsewhere rang %d; fleet throttles put %d", r.affected, r.allowed, r.rang, r.throttles)
			if r.allowed != 1 || r.affected != 0 {
				t.Errorf("%d of %d calls at the allowing tenant affected, want 0 of 1", r.affected, r.allowed)
			}
			if r.rang > 2 {
				t.Errorf("%d calls rang elsewhere, want at most 2", r.rang)
			}
		})
	}
	// Rotating numbers of one prefix: the prefix threshold (6) applies.
	t.Run("memory/rotating numbers of one prefix", func(t *testing.T) {
		r := sweep{servers: 100, calls: 100, over: allowRate.over, k: allowRate.k, tenant: func(i int) int { return i },
			number: func(i int) string { return fmt.Sprintf("09011112%03d", (i*37)%1000) }, exchange: "memory", inline: inline}.run(t)
		t.Logf("rang %d of 100; fleet-sweep first fired on call %d; actions %v", r.rang, r.firstFound, r.actions)
		if r.rang > 5 {
			t.Errorf("%d calls rang, want at most 5", r.rang)
		}
	})
}

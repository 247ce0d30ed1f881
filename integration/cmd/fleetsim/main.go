// Command fleetsim estimates how many callscreen servers one PostgreSQL
// holds. It plays N servers of M calls per second each against one
// database on this machine, through the store's and the service's own
// code, and steps N up until a change made on one server no longer
// reaches the others within a second, or the call log falls behind.
//
// Each simulated server is what serve keeps of the database: a
// store.Store with its own connection pool, a store.LogWriter as serve
// configures it (1 s linger, a journal, COPY into the call log), and a
// service.Service on live lists loaded from a snapshot and following the
// change feed (Run: LISTEN/NOTIFY plus the 2 s poll). Every call writes a
// call record through the service; about 5% of callers pass the challenge
// and are remembered (an allow entry in the tenant's scope, as
// Service.Remember writes it), and now and then an operator blocks a
// number, for the tenant or for the whole fleet. Tenants have two servers
// each (a business with two PBXs), so a tenant's change has one follower
// and a fleet-wide one N-1. With -sweeps (the default) each server also
// runs the sweep exchange as serve does on PostgreSQL (internal/fleet: it
// publishes its sightings, batched or at once, and follows the fleet's
// broadcasts), and a share of the calls comes from a few robocaller
// numbers that call every tenant.
//
// Change propagation is timed from the write's commit on one server (its
// Service.Put or Remember returned) to the moment another server's
// Service.Run receives it from the feed (the store's Changes returns it,
// and Run applies it to the live lists at once, in memory); also from the
// start of the write, which adds the commit's own time. Every server runs in this one process, as
// goroutines; PostgreSQL is a throwaway cluster (internal/pgtest) that
// commits durably (fsync and synchronous_commit on), or the database of
// -database.
//
// Usage (as root, for the cluster's postgres user):
//
//	go run ./integration/cmd/fleetsim [-servers 10,25,50,75,100,150,200] [-rate 2] [-step 60s]
//
// See docs/FLEET.md for a run's results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callscreen/callscreen/internal/fleet"
	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
	"github.com/jackc/pgx/v5"
)

type options struct {
	servers    []int
	rate       float64       // calls per second per server
	step       time.Duration // how long each N runs
	remember   float64       // share of calls whose caller is remembered
	blockEvery time.Duration // mean time between operator blocks, per server
	perTenant  int           // servers per tenant
	limit      time.Duration // propagation p99 the fleet must hold
	sweeps     bool          // run the sweep exchange (internal/fleet) as serve does
	sweepShare float64       // share of calls from robocaller numbers sweeping the fleet
	database   string
	dir        string
}

func main() {
	var o options
	servers := flag.String("servers", "10,25,50,75,100,150,200", "numbers of simulated servers, in order")
	flag.Float64Var(&o.rate, "rate", 2, "calls per second per server")
	flag.DurationVar(&o.step, "step", 60*time.Second, "how long each number of servers runs")
	flag.Float64Var(&o.remember, "remember", 0.05, "share of calls whose caller is remembered (allow entry, tenant scope)")
	flag.DurationVar(&o.blockEvery, "block-every", time.Minute, "mean time between operator blocks on each server (half of them fleet-wide)")
	flag.IntVar(&o.perTenant, "per-tenant", 2, "servers per tenant")
	flag.DurationVar(&o.limit, "limit", time.Second, "change propagation p99 the fleet must hold")
	flag.BoolVar(&o.sweeps, "sweeps", true, "exchange sweep counts through the database (internal/fleet), as serve does on PostgreSQL")
	flag.Float64Var(&o.sweepShare, "sweep-share", 0.05, "share of calls from 20 robocaller numbers that call every tenant (half of them fail the challenge)")
	flag.StringVar(&o.database, "database", "", "PostgreSQL URL to use instead of a throwaway cluster (its lists and call log grow)")
	flag.Parse()
	for _, s := range strings.Split(*servers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 || n > 2000 {
			fatalf("-servers: %q is not a number of servers between 2 and 2000", s)
		}
		o.servers = append(o.servers, n)
	}
	if o.rate <= 0 || o.perTenant < 1 || o.step < 5*time.Second {
		fatalf("-rate, -per-tenant or -step out of range")
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fleetsim: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s fleetsim: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "callscreen-fleetsim-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.dir = dir

	var cluster *pgtest.Cluster
	url := o.database
	if url == "" {
		// Each server holds up to 8 pooled connections and a LISTEN
		// connection for the lists and one for the sweeps.
		maxConns := 10*slices.Max(o.servers) + 20
		logf("starting PostgreSQL (durable commits, max_connections %d)", maxConns)
		cluster, err = pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{
			"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
			"max_connections": strconv.Itoa(maxConns),
		}})
		if err != nil {
			return err
		}
		defer cluster.Stop()
		if err := cluster.Exec(ctx, "postgres", "CREATE DATABASE fleetsim"); err != nil {
			return err
		}
		url = cluster.URL("fleetsim")
	}
	settings := pgSettings(ctx, url)
	logf("PostgreSQL: %s", settings)

	var results []stepResult
	for _, n := range o.servers {
		logf("%d servers x %g calls/s for %s", n, o.rate, o.step)
		r, err := runStep(ctx, o, url, n, cluster)
		if err != nil {
			return fmt.Errorf("%d servers: %w", n, err)
		}
		logf("%d servers: %s", n, r.summary())
		results = append(results, r)
		if !r.holds(o) {
			break
		}
	}
	fmt.Print(report(o, settings, results))
	return nil
}

// pgSettings returns the server settings that matter here.
func pgSettings(ctx context.Context, url string) string {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "unknown"
	}
	defer conn.Close(ctx)
	var v []string
	var version string
	if conn.QueryRow(ctx, "SHOW server_version").Scan(&version) == nil {
		v = append(v, "PostgreSQL "+version)
	}
	for _, k := range []string{"fsync", "synchronous_commit", "full_page_writes", "max_connections", "shared_buffers"} {
		var val string
		if conn.QueryRow(ctx, "SELECT current_setting($1)", k).Scan(&val) == nil {
			v = append(v, k+"="+val)
		}
	}
	return strings.Join(v, ", ")
}

// ---- one step: N servers --------------------------------------------------------

// stepResult is what one number of servers did.
type stepResult struct {
	Servers  int
	Duration time.Duration
	Calls    uint64 // call records written through the services
	Written  uint64 // call records in the database at the end of the step
	// Latencies are the propagation times of every (change, follower)
	// pair from the change's commit, ms, sorted; FromStart the same from
	// the start of the write (its commit included); Slowest per change
	// the time from its commit until its last follower had it.
	Latencies, FromStart, Slowest []float64
	Changes                       int // list changes made
	Expected, Missed              int // follower deliveries expected, and missing 3 s after the step
	WriteMs                       []float64
	WriteErrors                   int
	// MaxPending is the most call records one server held waiting for
	// the database at a one-second sample; Drain how long the writers
	// took to empty after the step.
	MaxPending int
	Drain      time.Duration
	Dropped    uint64
	DBCPU      float64 // PostgreSQL's CPU seconds over the step
	SimCPU     float64 // this process's
	Conns      int     // connections to the database at the end of the step
	// Publishes and PublishFailures count the sweep trackers' publishes
	// of sightings (from the start of the step's servers).
	Publishes, PublishFailures uint64
	Load                       string
}

func (r stepResult) p(q float64) float64 { return percentile(r.Latencies, q) }

func (r stepResult) summary() string {
	return fmt.Sprintf("%d calls, %d records written, %d list changes, propagation from commit median %.1f ms p99 %.1f ms max %.1f ms (from the write's start p99 %.1f ms; last follower p99 %.1f ms), %d of %d deliveries missed, list write p99 %.1f ms (%d errors), pending max %d per server, drain %s, %d dropped, %d sweep publishes (%d failed), PostgreSQL %.2f CPUs, simulator %.2f CPUs, %d connections",
		r.Calls, r.Written, r.Changes, r.p(50), r.p(99), r.p(100), percentile(r.FromStart, 99), percentile(r.Slowest, 99), r.Missed, r.Expected,
		percentile(r.WriteMs, 99), r.WriteErrors, r.MaxPending, r.Drain.Round(time.Millisecond), r.Dropped, r.Publishes, r.PublishFailures,
		r.DBCPU/r.Duration.Seconds(), r.SimCPU/r.Duration.Seconds(), r.Conns)
}

// holds reports whether the fleet kept up: propagation p99 under the
// limit, every change delivered, and the call log not falling behind
// (a server holds at most a few seconds of calls, as the 1 s linger
// does, and drains them within a few seconds; nothing dropped).
func (r stepResult) holds(o options) bool {
	return len(r.Latencies) > 0 && r.p(99) <= float64(o.limit.Milliseconds()) && r.Missed == 0 &&
		float64(r.MaxPending) <= 4*o.rate+8 && r.Drain < 5*time.Second && r.Dropped == 0 && r.Written == r.Calls && r.WriteErrors == 0 && r.PublishFailures == 0
}

// server is one simulated serve.
type server struct {
	idx    int
	name   string
	tenant string
	st     *store.Store
	logw   *store.LogWriter
	svc    *service.Service
	sweeps *fleet.Tracker // nil without -sweeps
}

// feed is a server's store as its Service sees it: Changes is timed.
type feed struct {
	*store.Store
	srv *server
	sim *sim
}

// PutVersion is where a change commits, whichever way the Service takes
// it (Put at once; Remember and throttles in the background, retried).
func (f *feed) PutVersion(ctx context.Context, e screening.Entry) (int64, error) {
	start := time.Now()
	v, err := f.Store.PutVersion(ctx, e)
	f.sim.wrote(e.Number, start, time.Now(), err)
	return v, err
}

func (f *feed) Changes(ctx context.Context, since int64, tenant string) (store.ChangeSet, error) {
	cs, err := f.Store.Changes(ctx, since, tenant)
	if err == nil {
		f.sim.received(f.srv, cs, time.Now())
	}
	return cs, err
}

// tracked is a list change in flight.
type tracked struct {
	writer    int
	expected  int
	start     time.Time   // the write began
	committed time.Time   // the write returned: committed (zero: failed)
	received  []time.Time // when each follower's feed brought it
}

// sim holds the changes in flight.
type sim struct {
	mu          sync.Mutex
	changes     map[string]*tracked // by number
	writeMs     []float64           // how long each store write took
	writeErrors int                 // writes the store refused
}

func (s *sim) track(number string, writer, expected int, start time.Time) {
	s.mu.Lock()
	s.changes[number] = &tracked{writer: writer, start: start, expected: expected}
	s.mu.Unlock()
}

// wrote notes a store write of a change, committed at end unless err.
func (s *sim) wrote(number string, start, end time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.writeErrors++
		return
	}
	s.writeMs = append(s.writeMs, float64(end.Sub(start).Microseconds())/1000)
	if t, ok := s.changes[number]; ok && t.committed.IsZero() {
		t.committed = end
	}
}

func (s *sim) received(srv *server, cs store.ChangeSet, at time.Time) {
	if len(cs.Changes) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs.Changes {
		t, ok := s.changes[c.Entry.Number]
		if !ok || c.Removed || t.writer == srv.idx {
			continue
		}
		t.received = append(t.received, at)
	}
}

var numberSeq atomic.Int64

// listNumber is a number no change of the run used before.
func listNumber() string { return fmt.Sprintf("+8190%08d", numberSeq.Add(1)) }

func runStep(ctx context.Context, o options, url string, n int, cluster *pgtest.Cluster) (stepResult, error) {
	res := stepResult{Servers: n}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sm := &sim{changes: map[string]*tracked{}}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var runs sync.WaitGroup

	servers := make([]*server, n)
	tenantSize := map[string]int{}
	defer func() {
		cancel()
		runs.Wait()
		// Ten seconds for every writer together: a database that
		// stalled leaves their records in the journals.
		cctx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelClose()
		var closing sync.WaitGroup
		for _, s := range servers {
			if s == nil {
				continue
			}
			closing.Go(func() {
				if s.logw != nil {
					_ = s.logw.Close(cctx)
				}
				s.st.Close()
			})
		}
		closing.Wait()
	}()
	// Servers join one by one: each loads its snapshot once, then follows
	// the feed.
	for i := range n {
		s := &server{idx: i, name: fmt.Sprintf("pbx%03d", i), tenant: fmt.Sprintf("shop%03d", i/o.perTenant)}
		var err error
		if s.st, err = store.Open(ctx, url); err != nil {
			return res, err
		}
		servers[i] = s
		tenantSize[s.tenant]++
		snap, err := s.st.SnapshotFor(ctx, time.Now(), s.tenant)
		if err != nil {
			return res, err
		}
		s.logw, err = store.NewLogWriter(ctx, s.st, store.LogOptions{
			Linger: time.Second, Buffer: 1 << 15, Logger: quiet,
			Journal: filepath.Join(o.dir, fmt.Sprintf("%d-%s-pending", n, s.name)),
		})
		if err != nil {
			return res, err
		}
		so := service.Options{Log: s.logw, Tenant: s.tenant, Server: s.name, Logger: quiet}
		if o.sweeps {
			// As serve: the tracker publishes this server's sightings and
			// follows the fleet's broadcasts (a second LISTEN).
			s.sweeps = fleet.New(fleet.Config{Server: s.name, Tenant: s.tenant},
				fleet.Options{Exchange: s.st, Broadcaster: s.st, Log: quiet})
			so.Sweeps = s.sweeps
			runs.Go(func() { _ = s.sweeps.Run(sctx) })
			runs.Go(func() { s.sweeps.Follow(sctx, s.st) })
		}
		s.svc = service.New(&feed{Store: s.st, srv: s, sim: sm}, screening.NewLists(snap), so)
		runs.Go(func() { _ = s.svc.Run(sctx) })
	}
	time.Sleep(2 * time.Second) // every Run listening

	var (
		calls      atomic.Uint64
		maxPending atomic.Int64
	)
	// A change: a remembered caller (the live lists at once, the store
	// behind), or an operator's block (the store, then the live lists).
	change := func(s *server, e screening.Entry, followers int) {
		sm.track(e.Number, s.idx, followers, time.Now())
		if e.Kind == screening.Allow {
			_ = s.svc.Remember(sctx, e)
			return
		}
		// The dashboard's request times out too.
		wctx, cancel := context.WithTimeout(sctx, 30*time.Second)
		defer cancel()
		_ = s.svc.Put(wctx, e)
	}

	cpu0, db0 := selfCPU(), clusterCPU(cluster)
	start := time.Now()
	gctx, stopCalls := context.WithTimeout(sctx, o.step)
	defer stopCalls()
	var load sync.WaitGroup
	var changes sync.WaitGroup
	for _, s := range servers {
		load.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s.idx), uint64(n)))
			blockP := 1 / (o.blockEvery.Seconds() * o.rate)
			k := 0
			// Calls arrive as a Poisson process of rate o.rate.
			for {
				wait := time.Duration(rng.ExpFloat64() / o.rate * float64(time.Second))
				select {
				case <-gctx.Done():
					return
				case <-time.After(wait):
				}
				rec := sampleRecord(s.idx*10_000_000+k, s.name, s.tenant)
				k++
				// Callers spread over Tokyo's numbers as real ones are:
				// servers share a thousand-number block (the sweep
				// prefix) by chance, not in step.
				rec.Verdict.Caller = fmt.Sprintf("+813%08d", rng.IntN(100_000_000))
				rec.Facts.Number = rec.Verdict.Caller
				if rng.Float64() < o.sweepShare {
					// A robocaller sweeping the fleet's DIDs.
					rec.Verdict.Caller = fmt.Sprintf("+815000000%03d", rng.IntN(20))
					rec.Facts.Number = rec.Verdict.Caller
					if rng.IntN(2) == 0 {
						rec.Outcome, rec.Taken = screening.OutcomeChallengeFailed, screening.Voicemail
					}
				}
				s.svc.Write(rec)
				calls.Add(1)
				switch x := rng.Float64(); {
				case x < o.remember:
					e := screening.Entry{Kind: screening.Allow, Number: listNumber(), Source: screening.SourceChallenge,
						Reason: "passed the challenge", Created: time.Now(), Expires: time.Now().Add(90 * 24 * time.Hour)}
					changes.Go(func() { change(s, e, tenantSize[s.tenant]-1) })
				case x < o.remember+blockP:
					e := screening.Entry{Kind: screening.Block, Number: listNumber(), Source: screening.SourceOperator,
						Reason: "blocked on the dashboard", Created: time.Now(), Tenant: s.tenant}
					followers := tenantSize[s.tenant] - 1
					if rng.IntN(2) == 0 {
						e.Tenant, followers = "", n-1
					}
					changes.Go(func() { change(s, e, followers) })
				}
			}
		})
	}
	// The call log's backlog, sampled every second.
	load.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return
			case <-t.C:
			}
			for _, s := range servers {
				if p := int64(s.logw.Pending()); p > maxPending.Load() {
					maxPending.Store(p)
				}
			}
		}
	})
	load.Wait()
	changes.Wait()
	res.Duration = time.Since(start)
	res.DBCPU, res.SimCPU = clusterCPU(cluster)-db0, selfCPU()-cpu0
	res.Load = loadAvg()
	res.Conns = connections(ctx, url)

	// What the writers still hold goes to the database now, within a
	// minute (a database that cannot is one that does not hold).
	t0 := time.Now()
	fctx, cancelFlush := context.WithTimeout(ctx, time.Minute)
	for _, s := range servers {
		if err := s.logw.Flush(fctx); err != nil {
			logf("flush %s: %v", s.name, err)
			break
		}
	}
	cancelFlush()
	res.Drain = time.Since(t0)
	// Stragglers: a change committed at the very end.
	time.Sleep(3 * time.Second)
	for _, s := range servers {
		res.Written += s.logw.Written()
		res.Dropped += s.logw.Dropped()
		if s.sweeps != nil {
			st := s.sweeps.Stats()
			res.Publishes += st.Published
			res.PublishFailures += st.Failed
		}
	}
	res.Calls = calls.Load()
	res.MaxPending = int(maxPending.Load())
	ms := func(d time.Duration) float64 { return float64(max(d, 0).Microseconds()) / 1000 }
	sm.mu.Lock()
	for _, t := range sm.changes {
		res.Changes++
		if t.committed.IsZero() {
			continue // refused: WriteErrors counts it
		}
		res.Expected += t.expected
		res.Missed += t.expected - len(t.received)
		var slowest time.Duration
		for _, at := range t.received {
			// From the commit (the writer's answer; a follower may be
			// told a little before it, counted as 0), and from the
			// write's start.
			res.Latencies = append(res.Latencies, ms(at.Sub(t.committed)))
			res.FromStart = append(res.FromStart, ms(at.Sub(t.start)))
			slowest = max(slowest, at.Sub(t.committed))
		}
		if t.expected > 0 && len(t.received) == t.expected {
			res.Slowest = append(res.Slowest, ms(slowest))
		}
	}
	sm.mu.Unlock()
	slices.Sort(res.Latencies)
	slices.Sort(res.FromStart)
	slices.Sort(res.Slowest)
	sm.mu.Lock()
	res.WriteMs, res.WriteErrors = slices.Clone(sm.writeMs), sm.writeErrors
	sm.mu.Unlock()
	slices.Sort(res.WriteMs)
	return res, nil
}

// connections counts the database's client connections.
func connections(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(&n); err != nil {
		return -1
	}
	return n - 1 // this one
}

// sampleRecord is a call record as the ARI path logs it: an ordinary
// caller who rang, with a finding.
func sampleRecord(i int, server, tenant string) screening.Record {
	now := time.Now()
	caller := fmt.Sprintf("+813%04d%04d", 1000+i%8000, 1000+(i/8000)%9000)
	id := fmt.Sprintf("%s.%d.%d", server, now.Unix(), i)
	return screening.Record{
		ID: id, Time: now, Server: server, Tenant: tenant, Mode: screening.ModeARI,
		Facts: screening.Facts{ID: id, Time: now, Number: caller, Called: "0399990100", Trunk: "provider", Source: "192.0.2.1"},
		Verdict: screening.Verdict{CallID: id, Profile: "default", Presence: screening.Presented, Caller: caller,
			CallerType: "fixed", Score: 10, Action: screening.Ring, Enforced: screening.Ring, Reason: "no indicator reached a threshold",
			Findings: []screening.Finding{{Indicator: "first-time-caller", Weight: 10, Evidence: "no call from this number in 90 days"}}},
		Taken: screening.Ring, Outcome: screening.OutcomeRang,
		Decision: 12 * time.Microsecond, Handling: 3 * time.Millisecond,
	}
}

// ---- the report -----------------------------------------------------------------

func report(o options, settings string, rs []stepResult) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("### fleetsim run of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	w("| | |\n|---|---|\n")
	w("| machine | %d CPUs, %s, %s RAM (the simulator and PostgreSQL share it) |\n", runtime.NumCPU(), cpuModel(), memTotal())
	w("| database | %s |\n", settings)
	w("| load | %g calls/s per server for %s per step; %.0f%% of callers remembered (allow, tenant scope); an operator block every %s per server on average, half fleet-wide; %d servers per tenant; sweep exchange %v, %.0f%% of calls from 20 robocaller numbers |\n",
		o.rate, o.step, 100*o.remember, o.blockEvery, o.perTenant, o.sweeps, 100*o.sweepShare)
	w("| command | `fleetsim %s` |\n\n", strings.Join(os.Args[1:], " "))
	w("| servers | calls/s | list changes | propagation from commit median / p99 / max ms | from the write's start p99 ms | last follower p99 ms | missed | list write p99 ms | records written / calls | pending max per server | drain s | sweep publishes/s (failed) | PostgreSQL CPUs | simulator CPUs | connections | load average at the end | holds |\n")
	w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	largest := 0
	for _, r := range rs {
		ok := r.holds(o)
		if ok {
			largest = r.Servers
		}
		w("| %d | %.0f | %d | %.1f / %.1f / %.1f | %.1f | %.1f | %d of %d | %.1f | %d / %d | %d | %.1f | %.0f (%d) | %.2f | %.2f | %d | %s | %s |\n",
			r.Servers, float64(r.Calls)/r.Duration.Seconds(), r.Changes, r.p(50), r.p(99), r.p(100), percentile(r.FromStart, 99), percentile(r.Slowest, 99),
			r.Missed, r.Expected, percentile(r.WriteMs, 99), r.Written, r.Calls, r.MaxPending, r.Drain.Seconds(),
			float64(r.Publishes)/r.Duration.Seconds(), r.PublishFailures,
			r.DBCPU/r.Duration.Seconds(), r.SimCPU/r.Duration.Seconds(), r.Conns, r.Load, yesNo(ok))
	}
	w("\nLargest number of servers held (propagation p99 <= %s, every change delivered, call log keeping up): ", o.limit)
	switch {
	case largest == 0:
		w("none of those tried.\n")
	case largest == rs[len(rs)-1].Servers && largest == o.servers[len(o.servers)-1]:
		w("%d, the most tried (a lower bound).\n", largest)
	default:
		w("%d.\n", largest)
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// percentile of sorted values (nearest rank); NaN when empty.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ---- CPU and the machine ----------------------------------------------------------

// clkTck is sysconf(_SC_CLK_TCK): 100 on Linux.
const clkTck = 100.0

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + st, errors.Join(err1, err2)
}

func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func selfCPU() float64 {
	t, err := cpuTicks(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(t) / clkTck
}

// clusterCPU is the CPU seconds of the cluster's postmaster and its
// children alive now (its backends and helpers); 0 without a cluster.
// Connections live through a step (each server's pool and LISTEN), so
// the difference over a step is the server's work for it.
func clusterCPU(c *pgtest.Cluster) float64 {
	if c == nil {
		return 0
	}
	b, _ := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	l, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(l))
	if pid == 0 {
		return 0
	}
	var ticks int64
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || (p != pid && parentPID(p) != pid) {
			continue
		}
		if t, err := cpuTicks(p); err == nil {
			ticks += t
		}
	}
	return float64(ticks) / clkTck
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			if f := strings.Fields(l); len(f) > 1 {
				if kb, err := strconv.Atoi(f[1]); err == nil {
					return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
	"github.com/jackc/pgx/v5"
)

// The fleet measurements of a run with a PostgreSQL path:
//
//   - change propagation: serve A (a tenant of its own, no ARI or
//     FastAGI) on a fresh database, and server B: the store and
//     service.Service serve runs, in this process, following the change
//     feed for another tenant. A fleet-wide block is made on A's dashboard
//     with the integrator's login (POST /api/lists/block) and B's live lists are looked up every 50 µs
//     until they hold it (serve exports no per-entry view of its live
//     lists, hence B in process);
//   - call log throughput: one log writer as serve configures it (its
//     linger, buffer and journal) takes call records as fast as it writes
//     them, into PostgreSQL (COPY) and into SQLite.

// Where the two serves of the propagation measurement listen.
const (
	fleetListenA = "127.0.0.1:18092"
	fleetListenB = "127.0.0.1:18093"
	fleetUser    = "loadtest"
	// fleetIntegrator is the integrator's login: fleet-wide entries are
	// its to change.
	fleetIntegrator = "integrator"
)

// fleetConfig is callscreen.yaml for those serves; the %s are the HTTP
// address, the database URL, the server name and the journal.
const fleetConfig = `# callscreen load benchmark: a fleet serve (integration/cmd/loadtest/fleet.go)
ari:
  enabled: false
agi:
  enabled: false
http:
  listen: %s
  dashboard: true
  username: ` + fleetUser + `
  integrator_username: ` + fleetIntegrator + `
database: %s
fleet:
  server: %s
log:
  level: warn
  format: json
  journal: %s
default_profile: default
profiles:
  default:
    country: JP
`

// fleetResult is what measureFleet measured.
type fleetResult struct {
	// Propagation is, per change, the time from A's dashboard request to
	// B's live lists holding the entry (ms, sorted); Committed the same
	// from A's answer (the change committed) instead.
	Propagation, Committed []float64
	Missed                 int // changes B had not applied after 10 s
	// LogPG and LogSQLite are the log writer's throughput.
	LogPG, LogSQLite logThroughput
	Settings         string // the PostgreSQL settings that matter here
}

// logThroughput is one log writer's run.
type logThroughput struct {
	Records int
	Elapsed time.Duration
	// CPU is the loadtest process's CPU seconds (the writer's encoding
	// and driver work), DBCPU the PostgreSQL server's.
	CPU, DBCPU float64
	Dropped    uint64
}

func (l logThroughput) rate() float64 { return float64(l.Records) / l.Elapsed.Seconds() }

// startPostgres starts a throwaway cluster that commits durably, as a
// production database does (pgtest turns that off for speed).
func startPostgres(ctx context.Context, maxConns int, parent string) (*pgtest.Cluster, error) {
	set := map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
	if maxConns > 0 {
		set["max_connections"] = strconv.Itoa(maxConns)
	}
	c, err := pgtest.Start(ctx, pgtest.Options{Settings: set, Parent: parent})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	return c, nil
}

// newDatabase creates database name and returns its URL.
func newDatabase(ctx context.Context, c *pgtest.Cluster, name string) (string, error) {
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

func measureFleet(ctx context.Context, o options, bin, dir string, pg *pgtest.Cluster) (*fleetResult, error) {
	r := &fleetResult{}
	if conn, err := pgx.Connect(ctx, pg.URL("postgres")); err == nil {
		var v []string
		for _, k := range []string{"fsync", "synchronous_commit", "full_page_writes", "max_connections", "shared_buffers"} {
			var val string
			if conn.QueryRow(ctx, "SELECT current_setting($1)", k).Scan(&val) == nil {
				v = append(v, k+"="+val)
			}
		}
		conn.Close(ctx)
		v = append(v, "data directory "+pg.DataDir)
		r.Settings = strings.Join(v, ", ")
	}
	if o.changes > 0 {
		logf("fleet: change propagation between two serves (%d changes)", o.changes)
		if err := propagation(ctx, o, bin, dir, pg, r); err != nil {
			return nil, fmt.Errorf("propagation: %w", err)
		}
		logf("fleet: propagation median %.1f ms p99 %.1f ms max %.1f ms (%d missed)",
			percentile(r.Propagation, 50), percentile(r.Propagation, 99), percentile(r.Propagation, 100), r.Missed)
	}
	if o.logRecords <= 0 {
		return r, nil
	}
	var err error
	logf("fleet: call log throughput (%d records each)", o.logRecords)
	pgURL, err := newDatabase(ctx, pg, "logwriter")
	if err != nil {
		return nil, err
	}
	if r.LogPG, err = writeLog(ctx, pgURL, filepath.Join(dir, "logwriter-pg-pending"), o.logRecords, pg); err != nil {
		return nil, fmt.Errorf("call log on PostgreSQL: %w", err)
	}
	if r.LogSQLite, err = writeLog(ctx, filepath.Join(dir, "logwriter.db"), filepath.Join(dir, "logwriter.db-pending"), o.logRecords, nil); err != nil {
		return nil, fmt.Errorf("call log on SQLite: %w", err)
	}
	logf("fleet: call log %.0f records/s into PostgreSQL, %.0f into SQLite", r.LogPG.rate(), r.LogSQLite.rate())
	return r, nil
}

// propagation starts serve A and server B on a fresh database and times
// o.changes fleet-wide blocks from A's dashboard to B's live lists.
func propagation(ctx context.Context, o options, bin, dir string, pg *pgtest.Cluster, r *fleetResult) error {
	db, err := newDatabase(ctx, pg, "propagation")
	if err != nil {
		return err
	}
	pw := make([]byte, 16)
	rand.Read(pw)
	password := hex.EncodeToString(pw)
	start := func(name, listen string) (*serveProc, error) {
		cfg := filepath.Join(dir, "fleet-"+name+".yaml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, fleetConfig, listen, db, name, filepath.Join(dir, name+"-pending")), 0o600); err != nil {
			return nil, err
		}
		p := &serveProc{log: filepath.Join(dir, "fleet-"+name+".log"), done: make(chan struct{}), bin: bin, cfg: cfg,
			env: append(os.Environ(), "CALLSCREEN_HTTP_PASSWORD="+password, "CALLSCREEN_HTTP_INTEGRATOR_PASSWORD="+password+"-integrator")}
		lf, err := os.Create(p.log)
		if err != nil {
			return nil, err
		}
		p.cmd = exec.Command(bin, "serve", "-c", cfg)
		p.cmd.Env = p.env
		p.cmd.Stdout, p.cmd.Stderr = lf, lf
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := p.cmd.Start(); err != nil {
			lf.Close()
			return nil, err
		}
		go func() { p.cmd.Wait(); lf.Close(); close(p.done) }()
		deadline := time.Now().Add(30 * time.Second)
		for harness.HTTPStatus(ctx, "http://"+listen+"/healthz", "", "") != 200 {
			select {
			case <-p.done:
				return nil, fmt.Errorf("serve %s exited at start:\n%s", name, harness.TailLines(harness.ReadFile(p.log), 20))
			default:
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				p.stop()
				return nil, fmt.Errorf("serve %s not ready after 30 s:\n%s", name, harness.TailLines(harness.ReadFile(p.log), 20))
			}
			time.Sleep(50 * time.Millisecond)
		}
		return p, nil
	}
	a, err := start("a", fleetListenA)
	if err != nil {
		return err
	}
	defer a.stop()

	// B: the store and service serve runs, following the feed, in this
	// process, so that its live lists can be read.
	st, err := store.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	snap, err := st.SnapshotFor(ctx, time.Now(), "b")
	if err != nil {
		return err
	}
	lists := screening.NewLists(snap)
	svc := service.New(st, lists, service.Options{Tenant: "b", Server: "b", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	go svc.Run(bctx)
	time.Sleep(500 * time.Millisecond) // B listening

	client := &http.Client{Timeout: 10 * time.Second}
	for i := range o.changes {
		number := fmt.Sprintf("+8135551%04d", i)
		body := fmt.Sprintf(`{"number":%q,"scope":"fleet","reason":"loadtest propagation"}`, number)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+fleetListenA+"/api/lists/block", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.SetBasicAuth(fleetIntegrator, password+"-integrator")
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST /api/lists/block on A: %s: %s", resp.Status, rb)
		}
		t1 := time.Now()
		for {
			if _, ok := lists.Lookup(screening.Block, number, time.Now()); ok {
				now := time.Now()
				r.Propagation = append(r.Propagation, float64(now.Sub(t0).Microseconds())/1000)
				r.Committed = append(r.Committed, float64(now.Sub(t1).Microseconds())/1000)
				break
			}
			if time.Since(t0) > 10*time.Second {
				r.Missed++
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		// Changes a little apart, as clicks are: each one is announced
		// and followed on its own.
		time.Sleep(20*time.Millisecond + time.Duration(i%7)*5*time.Millisecond)
	}
	slices.Sort(r.Propagation)
	slices.Sort(r.Committed)
	return nil
}

// writeLog times n call records through a log writer configured as
// serve configures it (serve.go: a linger of 1 s, a journal, a buffer of
// 32768 on PostgreSQL), kept full but never overflowing: the records per
// second one serve's log writer sustains. pg, when set, is the cluster
// whose CPU is counted.
func writeLog(ctx context.Context, database, journal string, n int, pg *pgtest.Cluster) (logThroughput, error) {
	res := logThroughput{Records: n}
	st, err := store.Open(ctx, database)
	if err != nil {
		return res, err
	}
	defer st.Close()
	buffer := 4096
	if st.Postgres() {
		buffer = 1 << 15
	}
	w, err := store.NewLogWriter(ctx, st, store.LogOptions{
		Linger: time.Second, Journal: journal, Buffer: buffer,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return res, err
	}
	cpu0, dbcpu0 := selfCPU(), clusterCPU(pg)
	t0 := time.Now()
	for i := range n {
		for w.Pending() >= buffer-256 {
			time.Sleep(200 * time.Microsecond)
		}
		w.Write(sampleRecord(i, "loadtest", "loadtest"))
	}
	if err := w.Flush(ctx); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(t0)
	res.CPU, res.DBCPU = selfCPU()-cpu0, clusterCPU(pg)-dbcpu0
	res.Dropped = w.Dropped()
	if err := w.Close(ctx); err != nil {
		return res, err
	}
	if w.Written() < uint64(n) {
		return res, fmt.Errorf("%d of %d records written", w.Written(), n)
	}
	return res, nil
}

// sampleRecord is the i-th call record of a benchmark: an ordinary caller
// who rang, with a finding, as the ARI path logs it.
func sampleRecord(i int, server, tenant string) screening.Record {
	now := time.Now()
	caller := fmt.Sprintf("+813%04d%04d", 1000+i%8000, 1000+(i/8000)%9000)
	id := fmt.Sprintf("%d.%d", now.Unix(), i)
	return screening.Record{
		ID: id, Time: now, Server: server, Tenant: tenant, Mode: screening.ModeARI,
		Facts: screening.Facts{ID: id, Time: now, Number: caller, Called: "0399990100", Trunk: "provider", Source: "127.0.0.2"},
		Verdict: screening.Verdict{CallID: id, Profile: "default", Presence: screening.Presented, Caller: caller,
			CallerType: "fixed", Score: 10, Action: screening.Ring, Enforced: screening.Ring, Reason: "no indicator reached a threshold",
			Findings: []screening.Finding{{Indicator: "first-time-caller", Weight: 10, Evidence: "no call from this number in 90 days"}}},
		Taken: screening.Ring, Outcome: screening.OutcomeRang,
		Decision: 12 * time.Microsecond, Handling: 3 * time.Millisecond,
	}
}

// selfCPU is this process's CPU seconds.
func selfCPU() float64 {
	t, err := cpuTicks(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(t) / clkTck
}

// clusterCPU is the CPU seconds of a cluster's postmaster and of its
// backends and helpers (its children), those alive now; 0 for nil.
func clusterCPU(c *pgtest.Cluster) float64 {
	if c == nil {
		return 0
	}
	pid := postmasterPID(c)
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

// postmasterPID reads the first line of the cluster's postmaster.pid.
func postmasterPID(c *pgtest.Cluster) int {
	l, _, _ := strings.Cut(harness.ReadFile(filepath.Join(c.DataDir, "postmaster.pid")), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(l))
	return pid
}

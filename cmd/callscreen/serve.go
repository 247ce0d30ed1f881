package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/dialplan"
	"github.com/callscreen/callscreen/internal/config"
	"github.com/callscreen/callscreen/internal/fleet"
	"github.com/callscreen/callscreen/internal/metrics"
	"github.com/callscreen/callscreen/internal/notify"
	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// serveOptions are serve's own flags.
type serveOptions struct {
	// pprof serves Go's profiling endpoints on the HTTP listener. Off by
	// default: a profile shows call handling internals and costs CPU
	// while it is taken.
	pprof bool
}

func newServe(g *globals) *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Screen calls: run the ARI Stasis application and the FastAGI server",
		Long: `serve connects to Asterisk's ARI as the Stasis application (default
"callscreen") and listens for FastAGI, screens every call handed to it,
logs each decision, and serves /metrics. It stops on SIGINT or SIGTERM after
the calls in progress have finished.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if err := cfg.CheckSecrets(); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.pprof, "pprof", false, "serve Go's profiling endpoints at /debug/pprof/ on http.listen (load tests)")
	return cmd
}

// logLinger is how long the call log batches records before a database
// write. One write costs about the same for one record as for a hundred,
// and it was most of serve's CPU with a write per call; the journal
// (<database>-pending) keeps the waiting records safe from a crash.
const logLinger = time.Second

// serveProcs is serve's GOMAXPROCS unless the GOMAXPROCS environment
// variable sets it. callscreen shares its machine with Asterisk and needs
// a fraction of one core (docs/BENCHMARKS.md); on one P the Go scheduler
// stops handing each request and event between threads, which was a
// quarter of serve's CPU on the ring path at 10 to 50 calls/s.
const serveProcs = 1

// serve runs every front end until ctx is cancelled.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, opts serveOptions) error {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(serveProcs)
	}
	// Fleet mode: the servers sharing a PostgreSQL database exchange
	// their sweep counts (internal/fleet); the fleet throttle, when the
	// default profile asks for one, goes through the service.
	var (
		sweeps *fleet.Tracker
		svc    *service.Service
	)
	sopts := screenerOptions{log: log.With("component", "store")}
	if store.IsPostgres(cfg.Database) {
		sopts.sweeps = func(st *store.Store) screening.SweepSource {
			def := cfg.Policy().Profiles[cfg.DefaultProfile]
			fc := fleet.Config{Server: cfg.Fleet.Server, Tenant: cfg.Fleet.Tenant}
			if def != nil {
				fc.Throttle, fc.ThrottleFailed = def.Sweep.Throttle, def.Sweep.Failed
			}
			sweeps = fleet.New(fc, fleet.Options{
				Exchange: st, Broadcaster: st, Log: log.With("component", "fleet"),
				Throttle: func(ctx context.Context, e screening.Entry) error { return svc.FleetThrottle(ctx, e) },
			})
			return sweeps
		}
	}
	rt, err := newScreener(ctx, cfg, sopts)
	if err != nil {
		return err
	}
	defer rt.Close()
	restoreEmergencies(ctx, rt, cfg.Fleet.Tenant, log)

	logw, err := store.NewLogWriter(ctx, rt.store, store.LogOptions{
		Logger:  log,
		Linger:  logLinger,
		Journal: cfg.Log.Journal,
		Buffer:  logBuffer(cfg.Database),
	})
	if err != nil {
		return err
	}
	m := metrics.New(logw)
	m.SetBuildInfo(version)
	m.WatchLists(func(k screening.ListKind) int { return rt.lists.Snapshot().Len(k) })
	notifier, err := notify.New(cfg.Notify, notify.Options{Logger: log.With("component", "notify"), CallLog: tenantCallLog{rt.store, cfg.Fleet.Tenant}, UserAgent: "callscreen/" + version})
	if err != nil {
		return err
	}
	m.WatchNotifications(notifier)
	m.WatchCounter("log_records_duplicate_total", "Call log records ignored because the log already held a record with their id (never overwritten).", rt.store.DuplicateRecords)
	var observer service.Sweeps
	if sweeps != nil {
		observer = sweeps
	}
	svc = service.New(rt.store, rt.lists, service.Options{
		Log: logw, Metrics: m, Notifier: notifier, Sweeps: observer,
		Throttle: cfg.Throttle, Retention: cfg.Log.Retention,
		Tenant: cfg.Fleet.Tenant, Server: cfg.Fleet.Server,
		Logger: log.With("component", "lists"),
	})
	m.WatchRetention(svc)
	m.WatchGauge("lists_feed_age_seconds", "Seconds since serve last read the lists' change feed from the database: how stale its lists may be (it grows through a database outage; calls are screened from the lists in memory meanwhile).",
		func() float64 {
			if t := svc.Synced(); !t.IsZero() {
				return time.Since(t).Seconds()
			}
			return 0
		})
	m.WatchGauge("list_writes_pending", "Automatic list changes (remembered callers, throttles) held in memory and retried until the database takes them.",
		func() float64 { return float64(svc.PendingWrites()) })
	m.WatchGauge("log_records_pending", "Call records accepted but not yet in the database (they wait in memory and in the journal, log.journal).",
		func() float64 { return float64(logw.Pending()) })

	// Listen before anything else so a port clash fails start-up.
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	var agiLn net.Listener
	if cfg.AGI.Enabled {
		if agiLn, err = net.Listen("tcp", cfg.AGI.Listen); err != nil {
			httpLn.Close()
			return fmt.Errorf("agi.listen %s: %w", cfg.AGI.Listen, err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if opts.pprof {
		mountPprof(mux)
	}
	onConnect := m.SetConnected
	if cfg.HTTP.Dashboard {
		dash, ariUp, err := newAdmin(cfg, rt, svc, logw, agiLn != nil, log)
		if err != nil {
			httpLn.Close()
			if agiLn != nil {
				agiLn.Close()
			}
			return err
		}
		mux.Handle("/", dash)
		onConnect = func(up bool) { m.SetConnected(up); ariUp(up) }
	}
	limits := defaultHTTPLimits(cfg.HTTP.MaxConnections)
	hs := newHTTPServer(mux, limits)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	if sweeps != nil {
		m.WatchGauge("fleet_sweep_numbers", "Numbers and prefixes the fleet's sweep counts are kept for (fleet mode).",
			func() float64 { st := sweeps.Stats(); return float64(st.Numbers + st.Prefixes) })
		m.WatchGauge("fleet_sweep_sightings_pending", "Sweep sightings waiting to be published to the fleet database (they pile up while it is away).",
			func() float64 { return float64(sweeps.Stats().Pending) })
		m.WatchCounter("fleet_sweep_publish_failures_total", "Publishes of sweep sightings the fleet database refused (retried).",
			func() uint64 { return sweeps.Stats().Failed })
		run("fleet sweeps", sweeps.Run)
		go sweeps.Follow(runCtx, rt.store)
	}
	profiles := func(name string) (dialplan.Profile, bool) {
		p, ok := cfg.Profiles[name]
		if !ok {
			return dialplan.Profile{}, false
		}
		return p.Dialplan, true
	}
	// Servers sharing a PostgreSQL call log name their records: Asterisk's
	// uniqueids (epoch.sequence) repeat from one PBX to the next, and the
	// log keeps one record per id.
	idPrefix := ""
	if store.IsPostgres(cfg.Database) {
		idPrefix = cfg.Fleet.Server + "-"
	}
	// Each front end drains its own calls: a Handler apiece, configured
	// alike, counting its calls in flight under its mode.
	handler := func(mode screening.Mode) *dialplan.Handler {
		return dialplan.NewHandler(dialplan.HandlerOptions{
			Evaluator:    m.CountInFlight(mode, rt.engine),
			Profiles:     profiles,
			Recorder:     svc,
			Rememberer:   svc,
			CallTimeout:  cfg.Calls.Deadline,
			DrainTimeout: cfg.Calls.ShutdownGrace,
			IDPrefix:     idPrefix,
		})
	}
	if cfg.ARI.Enabled {
		app := dialplan.NewStasis(handler(screening.ModeARI), dialplan.StasisOptions{
			URL:          cfg.ARI.URL,
			WebsocketURL: cfg.ARI.WebsocketURL,
			Username:     cfg.ARI.Username,
			Password:     cfg.ARI.Password,
			Application:  cfg.ARI.Application,
			Logger:       log.With("mode", "ari"),
			OnConnect:    onConnect,
		})
		run("ari", app.Run)
	}
	if cfg.AGI.Enabled {
		srv := dialplan.NewFastAGI(handler(screening.ModeAGI), dialplan.FastAGIOptions{
			Callbacks:    rt.engine,
			Emergencies:  emergencyKeeper{rt.store, cfg.Fleet.Tenant},
			Logger:       log.With("mode", "agi"),
			Key:          cfg.AGI.Key,
			MaxSessions:  cfg.AGI.MaxSessions,
			CallbackRate: cfg.AGI.CallbackRate,
		})
		m.WatchCounter("agi_sessions_refused_full_total", "FastAGI connections closed at once because agi.max_sessions were in progress (the call rang unscreened).",
			func() uint64 { full, _ := srv.Refused(); return full })
		m.WatchCounter("agi_sessions_refused_key_total", "FastAGI sessions closed because they did not carry agi.key.",
			func() uint64 { _, key := srv.Refused(); return key })
		if cfg.AGI.Key == "" {
			log.Warn("agi.key is not set: any local process can use the FastAGI server (add expected callbacks, write call records); set CALLSCREEN_AGI_KEY or agi.key_file and pass it in the AGI URL", "listen", cfg.AGI.Listen)
		}
		run("agi", func(ctx context.Context) error { return srv.Serve(ctx, agiLn) })
	}
	run("http", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			hs.Shutdown(sctx)
		}()
		if err := hs.Serve(limitListener(httpLn, limits.MaxConns)); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	run("lists", svc.Run)
	run("retention", svc.RunRetention)

	log.Info("callscreen started", "version", version, "procs", runtime.GOMAXPROCS(0), "ari", cfg.ARI.Enabled, "agi", cfg.AGI.Enabled,
		"http", httpLn.Addr().String(), "database", store.RedactURL(cfg.Database), "server", cfg.Fleet.Server, "tenant", cfg.Fleet.Tenant,
		"allow", rt.lists.Snapshot().Len(screening.Allow), "block", rt.lists.Snapshot().Len(screening.Block))
	<-runCtx.Done()
	wg.Wait()
	cctx, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	nctx, nc := context.WithTimeout(context.Background(), 5*time.Second)
	defer nc()
	if err := notifier.Close(nctx); err != nil {
		log.Warn("notifications not all delivered", "err", err)
	}
	if err := logw.Close(cctx); err != nil {
		log.Error("call log not fully written", "err", err)
	}
	log.Info("callscreen stopped", "records_written", logw.Written(), "records_dropped", logw.Dropped(), "write_errors", logw.Failed(), "write_retries", logw.Retried())
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// logBuffer is how many call records serve holds in memory for the
// database: on PostgreSQL enough for half an hour's outage at 20 calls/s
// (each waits in the journal as well).
func logBuffer(database string) int {
	if store.IsPostgres(database) {
		return 1 << 15
	}
	return 0 // the default
}

// emergencyKeeper keeps the emergency callback windows of the tenant a
// server screens for in the store (dialplan.EmergencyKeeper).
type emergencyKeeper struct {
	st     *store.Store
	tenant string
}

func (k emergencyKeeper) KeepEmergency(ctx context.Context, c screening.EmergencyCall) error {
	return k.st.SaveEmergencyCall(ctx, k.tenant, c, time.Now())
}

// restoreEmergencies reopens the emergency callback windows still open at
// start: the business dialled an emergency number before serve stopped (an
// upgrade, a crash, a reboot), and the police may call back from a
// withheld number within the window.
func restoreEmergencies(ctx context.Context, rt *screener, tenant string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := time.Now()
	calls, err := rt.store.EmergencyCalls(ctx, tenant, now)
	if err != nil {
		log.Error("emergency callback windows not read: one opened before this start is closed", "err", err)
		return
	}
	for _, c := range calls {
		if rt.engine.RestoreEmergency(c, now) {
			log.Warn("emergency callback window still open from before this start: every inbound call rings unscreened until it closes",
				"emergency_callback", c.String(), "until", c.Until, "profile", c.Profile)
		}
	}
}

// tenantCallLog is the call log of the tenant a server screens for (every
// call without one), for the daily digest: a shop hears of its own calls,
// not the fleet's.
type tenantCallLog struct {
	st     *store.Store
	tenant string
}

func (l tenantCallLog) Summary(ctx context.Context, since, until time.Time) (store.Summary, error) {
	return l.st.SummaryFor(ctx, since, until, l.tenant)
}

func (l tenantCallLog) Records(ctx context.Context, f store.RecordFilter) ([]screening.Record, error) {
	f.Tenant = l.tenant
	return l.st.Records(ctx, f)
}

// Package service owns what the running screener keeps: the lists in the
// store and the live lists the engine reads, and the call log.
//
// Every list change serve makes goes through a Service, in one order:
// the store first, then the live lists with the store's version of the
// change, so that a reload in flight does not undo it (screening.Lists.
// Replace). A click on the dashboard, a caller who passed a challenge and
// an expected callback take that path; an automatic throttle is the one
// change applied first and stored behind (throttle.go). The reload of
// changes made by other processes (the CLI, an import) and the hourly
// purges live here too.
//
// The store is an interface declared here: SQLite (screening/store)
// implements it now, and a shared database can implement it later.
package service

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// Store is the durable side of the lists.
type Store interface {
	// PutVersion adds or replaces one entry and returns the lists version
	// that holds it.
	PutVersion(ctx context.Context, e screening.Entry) (int64, error)
	// DeleteVersion removes one entry of a tenant's scope ("" for every
	// tenant), reports whether it existed and returns the lists version
	// without it.
	DeleteVersion(ctx context.Context, tenant string, k screening.ListKind, number string) (removed bool, v int64, err error)
	// Changes returns the changes to the lists after version since that
	// concern tenant, or says to reload.
	Changes(ctx context.Context, since int64, tenant string) (store.ChangeSet, error)
	// SnapshotFor reads every list entry in force at now for tenant.
	SnapshotFor(ctx context.Context, now time.Time, tenant string) (*screening.ListSnapshot, error)
	// PurgeExpired deletes the entries past their expiry at now.
	PurgeExpired(ctx context.Context, now time.Time) (int, error)
	// PurgeRecords deletes the call log records older than before.
	PurgeRecords(ctx context.Context, before time.Time) (int, error)
}

// CallLog keeps call records; Write must not block.
type CallLog interface {
	Write(r screening.Record)
}

// Observer sees every finished call (metrics, notifications); Observe and
// Notify must not block.
type Observer interface {
	Observe(r *screening.Record)
}

// Notifier sends the notifications a finished call calls for; it must not
// block.
type Notifier interface {
	Notify(r screening.Record)
}

// Sweeps counts finished calls for the fleet's sweep detection
// (internal/fleet's Tracker); Observe must not block.
type Sweeps interface {
	Observe(r screening.Record)
}

// Options configure a Service. Every field is optional.
type Options struct {
	// Log receives every call record.
	Log CallLog
	// Metrics and Notifier see every call record.
	Metrics  Observer
	Notifier Notifier
	// Throttle turns repeated challenge failures into throttles; the zero
	// value keeps the engine's defaults (screening.NewThrottler).
	Throttle screening.ThrottleConfig
	// Logger reports throttles, reloads and failed writes (default
	// slog.Default()).
	Logger *slog.Logger
	// ReloadEvery is how often Run looks for changes made by other
	// processes (default 2 s).
	ReloadEvery time.Duration
	// Retention is how long RunRetention keeps call log records; 0 keeps
	// them all. Expired list entries are purged either way.
	Retention time.Duration
	// Tenant is the customer this server screens for: the scope of the
	// callers it remembers and the throttles it sets, and of the lists it
	// serves (its own entries and those of every tenant). Empty on a
	// server without tenants.
	Tenant string
	// Server names this server in the records it writes.
	Server string
	// Sweeps sees every finished call, stamped with its tenant (fleet
	// mode).
	Sweeps Sweeps
}

// Service owns the store and the live lists together.
type Service struct {
	store     Store
	lists     *screening.Lists
	o         Options
	log       *slog.Logger
	throttler *screening.Throttler

	purgedRecords, purgedEntries atomic.Uint64

	// wake asks Run to read the change feed now (a notification from
	// the database).
	wake chan struct{}
	// synced is when Run last read the change feed (Unix nanoseconds),
	// and behind how many versions the store was ahead then.
	synced atomic.Int64
	// pendingWrites counts automatic list changes waiting for the store.
	pendingWrites atomic.Int64
}

// New returns a Service writing to st and serving lists (a nil lists
// starts empty).
func New(st Store, lists *screening.Lists, o Options) *Service {
	if lists == nil {
		lists = screening.NewLists(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ReloadEvery <= 0 {
		o.ReloadEvery = 2 * time.Second
	}
	return &Service{store: st, lists: lists, o: o, log: o.Logger, throttler: screening.NewThrottler(o.Throttle),
		wake: make(chan struct{}, 1)}
}

// Lists returns the live lists the engine reads.
func (s *Service) Lists() *screening.Lists { return s.lists }

// Snapshot returns the live lists as they stand.
func (s *Service) Snapshot() *screening.ListSnapshot { return s.lists.Snapshot() }

// Tenant returns the tenant this server screens for.
func (s *Service) Tenant() string { return s.o.Tenant }

// Put stores e and then applies it to the live lists at the store's
// version. Nothing changes when the store refuses it: the error says why
// (the database unreachable, say), and the caller reports it.
func (s *Service) Put(ctx context.Context, e screening.Entry) error {
	v, err := s.store.PutVersion(ctx, e)
	if err != nil {
		return err
	}
	if e.Tenant == "" || e.Tenant == s.o.Tenant {
		// As the feed would: a newer change the feed brought meanwhile
		// stands.
		s.lists.ApplyAt(e, false, v)
	}
	return nil
}

// Delete removes an entry of tenant's scope ("" for every tenant) from
// the store and then from the live lists.
func (s *Service) Delete(ctx context.Context, tenant string, k screening.ListKind, number string) (bool, error) {
	removed, v, err := s.store.DeleteVersion(ctx, tenant, k, number)
	if err != nil {
		return false, err
	}
	if tenant == "" || tenant == s.o.Tenant {
		// Another scope may still hold the number: the change feed
		// brings it back.
		s.lists.ApplyAt(screening.Entry{Kind: k, Number: number}, true, v)
		s.Wake()
	}
	return removed, nil
}

// Remember keeps a caller to remember (one who passed a challenge, an
// expected callback) in this server's tenant's scope; the front ends call
// it. The live lists take it at once; the store takes it in the
// background, retried through a database outage (putBehind), so it never
// waits for the database and is never lost while the process runs.
func (s *Service) Remember(_ context.Context, e screening.Entry) error {
	e.Tenant = s.o.Tenant
	s.putBehind(e)
	return nil
}

// Write records one finished call: the call log, metrics, notifications
// and the throttles it calls for. It never blocks.
func (s *Service) Write(r screening.Record) {
	if r.Server == "" {
		r.Server = s.o.Server
	}
	if r.Tenant == "" {
		r.Tenant = s.o.Tenant
	}
	if s.o.Metrics != nil {
		s.o.Metrics.Observe(&r)
	}
	if s.o.Log != nil {
		s.o.Log.Write(r)
	}
	if s.o.Notifier != nil {
		s.o.Notifier.Notify(r)
	}
	if s.o.Sweeps != nil {
		s.o.Sweeps.Observe(r)
	}
	s.throttle(r)
}

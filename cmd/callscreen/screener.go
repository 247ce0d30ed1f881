package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/callscreen/callscreen/internal/config"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// screener is the engine with its lists and store, as every command that
// evaluates calls or edits lists needs them.
type screener struct {
	cfg     *config.Config
	store   *store.Store // nil when read-only and no database exists yet
	lists   *screening.Lists
	numbers *screening.Numbering
	engine  *screening.Engine
}

type screenerOptions struct {
	// readOnly commands do not create a database that does not exist.
	readOnly bool
	// noLists leaves the lists unread, for commands that do not screen a
	// call: with millions of entries, reading them takes seconds.
	noLists bool
	// sweeps, when set, returns the fleet's sweep counts the engine reads
	// (fleet mode), given the opened store.
	sweeps func(st *store.Store) screening.SweepSource
	// log receives what the store reports on its own (serve's logger);
	// nil: slog.Default().
	log *slog.Logger
}

func newScreener(ctx context.Context, cfg *config.Config, opts screenerOptions) (*screener, error) {
	rt := &screener{cfg: cfg, numbers: screening.NewNumbering(cfg.Numbers.CacheSize)}
	var snap *screening.ListSnapshot
	if _, err := os.Stat(cfg.Database); err == nil || !opts.readOnly || store.IsPostgres(cfg.Database) {
		st, err := openStore(ctx, cfg.Database, store.WithLogger(opts.log))
		if err != nil {
			return nil, err
		}
		rt.store = st
		if !opts.noLists {
			if snap, err = st.SnapshotFor(ctx, time.Now(), cfg.Fleet.Tenant); err != nil {
				st.Close()
				return nil, fmt.Errorf("loading lists from %s: %w", store.RedactURL(cfg.Database), err)
			}
		}
	}
	rt.lists = screening.NewLists(snap)
	pol := cfg.Policy()
	if opts.sweeps != nil && rt.store != nil {
		pol.Fleet = opts.sweeps(rt.store)
	}
	eng, err := screening.NewEngine(pol, rt.lists, rt.numbers, screening.NewVelocity(cfg.Velocity))
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("configuration: %w", err)
	}
	rt.engine = eng
	return rt, nil
}

func openStore(ctx context.Context, path string, opts ...store.Option) (*store.Store, error) {
	if store.IsPostgres(path) {
		st, err := store.Open(ctx, path, opts...)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return st, nil
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("database directory: %w", err)
		}
	}
	st, err := store.Open(ctx, path, opts...)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return st, nil
}

// open loads the configuration and opens the screener on it: what every
// command that evaluates calls or reads the lists and the log starts with.
func (g *globals) open(ctx context.Context, opts screenerOptions) (*config.Config, *screener, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, nil, err
	}
	rt, err := newScreener(ctx, cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	return cfg, rt, nil
}

// requireStore returns the store or an error saying there is none yet.
func (rt *screener) requireStore() (*store.Store, error) {
	if rt.store == nil {
		return nil, errors.New("no database yet at " + rt.cfg.Database + ": nothing has been logged or listed")
	}
	return rt.store, nil
}

// Close releases the store.
func (rt *screener) Close() {
	if rt.store != nil {
		rt.store.Close()
	}
}

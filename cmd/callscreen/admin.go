package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/internal/admin"
	"github.com/callscreen/callscreen/internal/config"
	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// newAdmin builds the admin dashboard and JSON API (http.dashboard) for
// serve. It returns the handler to mount at "/" and a function that serve
// calls with the ARI connection state.
func newAdmin(cfg *config.Config, rt *screener, svc *service.Service, logw *store.LogWriter, agiListening bool, log *slog.Logger) (http.Handler, func(up bool), error) {
	var ariUp atomic.Bool
	started := time.Now()
	srv, err := admin.New(admin.Options{
		Store:     rt.store,
		Lists:     svc,
		Tenant:    cfg.Fleet.Tenant,
		Normalize: rt.normalizer(),
		National: func(e164 string) string {
			return screening.NationalFormat(e164, rt.engine.ProfileFor("", "").Country)
		},
		Username:         cfg.HTTP.Username,
		Password:         cfg.HTTP.Password,
		InsecurePassword: cfg.HTTP.InsecurePassword,
		SessionTimeout:   cfg.HTTP.SessionTimeout,
		Logger:           log.With("component", "admin"),
		State: func() admin.State {
			snap := rt.lists.Snapshot()
			return admin.State{
				Version:      version,
				Started:      started,
				ARIEnabled:   cfg.ARI.Enabled,
				ARIConnected: ariUp.Load(),
				AGIEnabled:   cfg.AGI.Enabled,
				AGIListening: agiListening,
				AGIListen:    cfg.AGI.Listen,
				Lists: map[screening.ListKind]int{
					screening.Allow:          snap.Len(screening.Allow),
					screening.Block:          snap.Len(screening.Block),
					screening.DoNotOriginate: snap.Len(screening.DoNotOriginate),
				},
				LogWritten: logw.Written(),
				LogDropped: logw.Dropped(),
				LogFailed:  logw.Failed(),
				Database:   store.RedactURL(cfg.Database),
			}
		},
		// The fleet view's login; off while http.integrator_username is
		// empty. Server names this server in the dashboard's top bar.
		IntegratorUsername: cfg.HTTP.IntegratorUsername,
		IntegratorPassword: cfg.HTTP.IntegratorPassword,
		Server:             cfg.Fleet.Server,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("http.dashboard: %w", err)
	}
	return srv.Handler(), ariUp.Store, nil
}

// Package admin serves callscreen's admin dashboard and its JSON API: the
// call log with search and filters, one-click allow and block, list
// management with CSV import and export, a daily chart of calls by action,
// and the service's live state.
//
// Everything sits behind a login. The browser holds a session cookie
// (HttpOnly, SameSite=Strict, a random 256-bit id checked against a
// server-side table with an expiry); every state-changing request must also
// carry the session's CSRF token in the X-CSRF-Token header and pass
// net/http's cross-origin checks. Scripts may use HTTP Basic instead of a
// session. Failed logins are rate limited per client address.
//
// The dashboard is a small static page (HTML, CSS and vanilla JavaScript,
// embedded in the binary, no build step and no third-party code) that talks
// to the JSON API. It renders every caller-controlled string with
// textContent, never as markup. API.md in docs/ documents the API.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// Options configure a Server.
type Options struct {
	// Store holds the lists and the call log (required).
	Store *store.Store
	// Lists changes the lists the engine reads: the store first, then the
	// live lists (service.Service). Nil writes to Store only and leaves
	// the running screener to pick changes up from it.
	Lists Lists
	// State reports the service's live state for /api/state; nil reports
	// only the dashboard's own view.
	State func() State
	// Normalize turns a number typed in national form ("03-1234-5678")
	// into E.164 ("+81312345678"); it returns prefix patterns ("+4470*")
	// unchanged. Nil accepts E.164 only.
	Normalize func(string) (string, error)
	// National writes an E.164 number in the business's national format
	// ("+81355550000" -> "03-5555-0000") for the call log; nil shows E.164.
	National func(string) string
	// Username and Password are the dashboard's credentials (required; an
	// empty password only with InsecurePassword).
	Username, Password string
	InsecurePassword   bool
	// IntegratorUsername and IntegratorPassword are the integrator's
	// login, the fleet view: the calls of every server and tenant sharing
	// the database and the list entries of every scope, any of which it
	// may change. Empty: no integrator login. The password follows
	// Password's rules (InsecurePassword included).
	IntegratorUsername, IntegratorPassword string
	// SessionTimeout is how long a session lasts without use (default
	// 12h); a session ends after 7 days regardless.
	SessionTimeout time.Duration
	// Location is the time zone of the daily chart and of dates given
	// without a zone (default time.Local).
	Location *time.Location
	// MaxImportBytes caps a CSV import's size (default 256 MiB).
	MaxImportBytes int64
	// Tenant is the customer this server screens for (fleet mode): the
	// scope of the entries its dashboard adds unless it asks for the
	// whole fleet's. Empty on a server without tenants.
	Tenant string
	// Server is this server's name in the fleet, shown on the dashboard;
	// empty on a server without one.
	Server string
	// Logger receives logins and list changes (default slog.Default()).
	Logger *slog.Logger
	// Now returns the current time (default time.Now); for tests.
	Now func() time.Time
}

// Lists is the one writer of the lists: an allow or block entry added
// through the API takes effect at once, as well as being stored.
type Lists interface {
	Put(ctx context.Context, e screening.Entry) error
	Delete(ctx context.Context, tenant string, k screening.ListKind, number string) (bool, error)
	// Snapshot returns the live lists, for their sizes.
	Snapshot() *screening.ListSnapshot
}

// State is the live state of the service, as the dashboard shows it.
type State struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// ARI is the Stasis front end: enabled in the configuration, and
	// connected to Asterisk right now.
	ARIEnabled   bool `json:"ari_enabled"`
	ARIConnected bool `json:"ari_connected"`
	// AGI is the FastAGI front end: enabled, and its listener open.
	AGIEnabled   bool   `json:"agi_enabled"`
	AGIListening bool   `json:"agi_listening"`
	AGIListen    string `json:"agi_listen,omitempty"`
	// Lists is the number of entries of each list the engine holds.
	Lists map[screening.ListKind]int `json:"lists"`
	// LogWritten, LogDropped and LogFailed are the call log writer's
	// counters.
	LogWritten uint64 `json:"log_written"`
	LogDropped uint64 `json:"log_dropped"`
	LogFailed  uint64 `json:"log_failed"`
	Database   string `json:"database,omitempty"`
}

// Server is the dashboard and API. Create one with New.
type Server struct {
	opts     Options
	log      *slog.Logger
	sessions *sessions
	limiter  *limiter
	logins   chan struct{} // semaphore of the logins in progress
	handler  http.Handler
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("admin: no store")
	}
	if strings.TrimSpace(opts.Username) == "" {
		return nil, errors.New("admin: no user name")
	}
	if opts.Password == "" && !opts.InsecurePassword {
		return nil, errors.New("admin: empty password")
	}
	if iu := strings.TrimSpace(opts.IntegratorUsername); iu != "" {
		if iu == strings.TrimSpace(opts.Username) {
			return nil, errors.New("admin: the integrator's user name is the dashboard's")
		}
		if opts.IntegratorPassword == "" && !opts.InsecurePassword {
			return nil, errors.New("admin: empty integrator password")
		}
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 12 * time.Hour
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.MaxImportBytes <= 0 {
		opts.MaxImportBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		sessions: newSessions(opts.SessionTimeout, 7*24*time.Hour, opts.Now),
		limiter:  newLimiter(5, 15*time.Minute, opts.Now),
		logins:   make(chan struct{}, maxConcurrentLogins),
	}
	ui, err := newUI()
	if err != nil {
		return nil, err
	}

	api := http.NewServeMux()
	api.HandleFunc("POST /api/login", s.login)
	api.HandleFunc("POST /api/logout", s.auth(s.logout))
	api.HandleFunc("GET /api/session", s.auth(s.session))
	api.HandleFunc("GET /api/state", s.auth(s.state))
	api.HandleFunc("GET /api/calls", s.auth(s.calls))
	api.HandleFunc("GET /api/calls/{id}", s.auth(s.call))
	api.HandleFunc("GET /api/summary", s.auth(s.summary))
	api.HandleFunc("GET /api/fleet", s.auth(s.fleet))
	api.HandleFunc("GET /api/lists/{kind}", s.auth(s.listEntries))
	api.HandleFunc("POST /api/lists/{kind}", s.auth(s.listPut))
	api.HandleFunc("DELETE /api/lists/{kind}", s.auth(s.listDelete))
	api.HandleFunc("DELETE /api/lists/{kind}/{number}", s.auth(s.listDelete))
	api.HandleFunc("POST /api/lists/{kind}/import", s.auth(s.listImport))
	api.HandleFunc("GET /api/lists/{kind}/export", s.auth(s.listExport))

	mux := http.NewServeMux()
	mux.Handle("/api/", jsonErrors(api))
	mux.Handle("GET /{$}", ui.index())
	mux.Handle("GET /static/", ui.static())

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	s.handler = securityHeaders(cop.Handler(mux))
	return s, nil
}

// Handler returns the dashboard and API: "/", "/static/" and "/api/".
// Mount it at the root of the HTTP listener.
func (s *Server) Handler() http.Handler { return s.handler }

// securityHeaders sets headers that keep the dashboard from being framed,
// sniffed, or made to run anything but its own script.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// jsonErrors answers requests that match no API route (404, or 405 with
// an Allow header) with a JSON error, like every other API error.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch rec.status {
		case http.StatusMethodNotAllowed:
			writeError(w, rec.status, fmt.Sprintf("method %s not allowed here (allowed: %s)", r.Method, rec.header.Get("Allow")))
		default:
			writeError(w, http.StatusNotFound, "no such API endpoint: "+r.URL.Path)
		}
	})
}

// statusRecorder keeps the status and headers of the mux's own error reply.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *statusRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}

// apiError is the body of every error reply.
type apiError struct {
	Error string `json:"error"`
}

// writeJSON writes v as the reply with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{"encoding the reply: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeError writes {"error": msg} with the given status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{msg})
}

// internalError logs err and answers 500 without the details.
// notSaved answers a list change the store did not take (the fleet
// database unreachable, a disk full): nothing changed, and the operator
// is told so rather than left to believe the click took.
func (s *Server) notSaved(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("admin API: list change not saved", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, "not saved: the database did not take the change, so nothing changed; try again (the server log has the cause)")
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; see the server log")
}

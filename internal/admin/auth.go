package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Session cookie and CSRF header names.
const (
	cookieName = "callscreen_session"
	csrfHeader = "X-CSRF-Token"
	// maxSessions bounds the session table; the oldest session is ended
	// to make room.
	maxSessions = 256
)

// session is one logged-in browser.
type session struct {
	user    string
	role    role
	csrf    string
	created time.Time
	expires time.Time // idle expiry, pushed back on each use
}

// sessions is the server-side session table, keyed by the SHA-256 of the
// cookie's value.
type sessions struct {
	mu      sync.Mutex
	m       map[[32]byte]*session
	idle    time.Duration
	maxLife time.Duration
	now     func() time.Time
}

func newSessions(idle, maxLife time.Duration, now func() time.Time) *sessions {
	return &sessions{m: make(map[[32]byte]*session), idle: idle, maxLife: maxLife, now: now}
}

// randomToken returns 256 random bits, base64url encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics if the OS cannot supply)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for user in role and returns its cookie value.
func (s *sessions) create(user string, r role) (id string, sess session) {
	id = randomToken()
	now := s.now()
	sess = session{user: user, role: r, csrf: randomToken(), created: now, expires: now.Add(s.idle)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= maxSessions {
		var (
			oldest [32]byte
			at     time.Time
		)
		for k, v := range s.m {
			if at.IsZero() || v.created.Before(at) {
				oldest, at = k, v.created
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = &sess
	return id, sess
}

// get returns the session with cookie value id and extends its idle
// expiry; ok is false for an unknown or expired session.
func (s *sessions) get(id string) (session, bool) {
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[key]
	if !ok {
		return session{}, false
	}
	if !now.Before(sess.expires) || now.Sub(sess.created) >= s.maxLife {
		delete(s.m, key)
		return session{}, false
	}
	sess.expires = now.Add(s.idle)
	return *sess, true
}

// end deletes the session with cookie value id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.m, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

// limiter counts failed logins per client address in a sliding window and
// refuses further attempts once max have failed. An attempt reserves its
// place before the password is read (reserve), so that attempts made in
// parallel count as well as attempts made one after another: of any
// number of simultaneous attempts from one address at most max are ever
// checked.
type limiter struct {
	mu      sync.Mutex
	fails   map[string][]time.Time
	pending map[string]int // attempts reserved and not yet settled
	max     int
	window  time.Duration
	now     func() time.Time
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{fails: make(map[string][]time.Time), pending: make(map[string]int), max: max, window: window, now: now}
}

// attempt is a reserved login attempt; settle it exactly once.
type attempt struct {
	l   *limiter
	key string
}

// reserve takes one of key's attempts. It returns how long key must wait
// (and no attempt) when its failures and the attempts in progress already
// reach the limit.
func (l *limiter) reserve(key string) (*attempt, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.prune(key, now)
	if len(f)+l.pending[key] >= l.max {
		if len(f) == 0 {
			// Only attempts in progress: they settle within a request.
			return nil, time.Second
		}
		return nil, max(f[0].Add(l.window).Sub(now), time.Second)
	}
	l.pending[key]++
	return &attempt{l: l, key: key}, 0
}

// failed settles the attempt as a failed login.
func (a *attempt) failed() {
	l := a.l
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unpend(a.key)
	f := append(l.prune(a.key, now), now)
	if len(f) > l.max {
		f = f[len(f)-l.max:]
	}
	l.fails[a.key] = f
	if len(l.fails) > 10000 { // a flood of addresses: forget the idle ones
		for k := range l.fails {
			l.prune(k, now)
		}
	}
}

// succeeded settles the attempt as a successful login: key's failures
// are forgotten.
func (a *attempt) succeeded() {
	a.l.mu.Lock()
	a.l.unpend(a.key)
	delete(a.l.fails, a.key)
	a.l.mu.Unlock()
}

// cancel settles an attempt that checked no password (a bad request).
func (a *attempt) cancel() {
	a.l.mu.Lock()
	a.l.unpend(a.key)
	a.l.mu.Unlock()
}

// unpend drops one of key's pending attempts; l.mu is held.
func (l *limiter) unpend(key string) {
	if l.pending[key] <= 1 {
		delete(l.pending, key)
		return
	}
	l.pending[key]--
}

// prune drops key's failures older than the window; l.mu is held.
func (l *limiter) prune(key string, now time.Time) []time.Time {
	f := l.fails[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.window {
		i++
	}
	f = slices.Clip(f[i:])
	if len(f) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = f
	return f
}

// clientKey is the rate limiter's key for r: the client's IP address.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// role is what a login may see and change.
type role string

const (
	// roleOperator is the dashboard's own login (http.username): on a
	// server with a tenant it sees that tenant's calls and entries and
	// the fleet-wide entries, and changes its tenant's entries only.
	roleOperator role = "operator"
	// roleIntegrator (http.integrator_username) sees the fleet view: the
	// calls of every server and tenant, the entries of every scope, and
	// changes any of them.
	roleIntegrator role = "integrator"
)

// checkPassword compares the credentials with each login's in constant
// time (hashing first, so that neither the length nor the content leaks
// through timing) and returns the role of the login they match.
func (s *Server) checkPassword(user, pass string) (role, bool) {
	hu, hp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	match := func(wantUser, wantPass string) bool {
		wu, wp := sha256.Sum256([]byte(wantUser)), sha256.Sum256([]byte(wantPass))
		return subtle.ConstantTimeCompare(hu[:], wu[:])&subtle.ConstantTimeCompare(hp[:], wp[:]) == 1
	}
	operator := match(s.opts.Username, s.opts.Password)
	// Compared even when there is no integrator login, so that the time
	// taken does not say whether there is one.
	integrator := match(s.opts.IntegratorUsername, s.opts.IntegratorPassword) && s.opts.IntegratorUsername != ""
	switch {
	case operator:
		return roleOperator, true
	case integrator:
		return roleIntegrator, true
	}
	return "", false
}

// maxConcurrentLogins caps the password checks in progress at once, over
// all clients: a login is cheap, and more than a few at a time is a flood.
const maxConcurrentLogins = 32

// reserveLogin takes a place for one login attempt from r's client, or
// answers 429 (the client failed too often, or has too many attempts in
// progress) or 503 (too many logins in progress overall) and returns nil.
// The caller settles the attempt and then calls the returned release.
func (s *Server) reserveLogin(w http.ResponseWriter, r *http.Request) (*attempt, func()) {
	select {
	case s.logins <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many logins in progress; try again in a second")
		return nil, nil
	}
	release := func() { <-s.logins }
	a, wait := s.limiter.reserve(clientKey(r))
	if a == nil {
		release()
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins from %s; try again in %d seconds", clientKey(r), secs))
		return nil, nil
	}
	return a, release
}

// caller is who made an authenticated request.
type caller struct {
	user string
	role role
	// sess is set for a browser session, nil for HTTP Basic.
	sess *session
}

// auth wraps an API handler: it requires a valid session (with the CSRF
// token on state-changing methods) or HTTP Basic credentials.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
			sess, ok := s.sessions.get(c.Value)
			if !ok {
				clearCookie(w, r)
				writeError(w, http.StatusUnauthorized, "session expired; log in again")
				return
			}
			if !safeMethod(r.Method) {
				got := r.Header.Get(csrfHeader)
				if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
					writeError(w, http.StatusForbidden, "missing or wrong "+csrfHeader+" header")
					return
				}
			}
			h(w, r, caller{user: sess.user, role: sess.role, sess: &sess})
			return
		}
		if user, pass, ok := r.BasicAuth(); ok {
			a, release := s.reserveLogin(w, r)
			if a == nil {
				return
			}
			rl, good := s.checkPassword(user, pass)
			if good {
				a.succeeded()
			} else {
				a.failed()
			}
			release()
			if !good {
				s.log.Warn("admin: failed HTTP Basic login", "user", user, "client", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Basic realm="callscreen", charset="UTF-8"`)
				writeError(w, http.StatusUnauthorized, "wrong user name or password")
				return
			}
			h(w, r, caller{user: user, role: rl})
			return
		}
		// No WWW-Authenticate challenge: the browser would pop up its own
		// login dialog over the dashboard's.
		writeError(w, http.StatusUnauthorized, "log in first (session cookie or HTTP Basic)")
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// sessionInfo is the reply of POST /api/login and GET /api/session.
type sessionInfo struct {
	User string `json:"user"`
	// Role is "operator" (http.username) or "integrator" (the fleet view).
	Role      role      `json:"role"`
	CSRFToken string    `json:"csrf_token,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}

// login checks the credentials and starts a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	// The attempt is reserved before the body is read: a check, a read
	// and a record of the failure that did not hold anything across the
	// three let parallel attempts through the limit.
	a, release := s.reserveLogin(w, r)
	if a == nil {
		return
	}
	defer release()
	var req loginRequest
	if err := decodeJSON(w, r, &req, 4<<10); err != nil {
		a.cancel()
		s.fail(w, r, err)
		return
	}
	rl, ok := s.checkPassword(req.Username, req.Password)
	if !ok {
		a.failed()
		s.log.Warn("admin: failed login", "user", req.Username, "client", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	a.succeeded()
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.end(c.Value) // no session fixation
	}
	id, sess := s.sessions.create(req.Username, rl)
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("admin: login", "user", req.Username, "role", rl, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, sessionInfo{User: sess.user, Role: rl, CSRFToken: sess.csrf, Expires: sess.expires})
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c caller) {
	if ck, err := r.Cookie(cookieName); err == nil {
		s.sessions.end(ck.Value)
	}
	clearCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// session tells the page who is logged in and hands it the CSRF token
// again after a reload.
func (s *Server) session(w http.ResponseWriter, r *http.Request, c caller) {
	info := sessionInfo{User: c.user, Role: c.role}
	if c.sess != nil {
		info.CSRFToken, info.Expires = c.sess.csrf, c.sess.expires
	}
	writeJSON(w, http.StatusOK, info)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteStrictMode})
}

// isHTTPS reports whether the browser reached us over TLS, directly or
// through a reverse proxy that says so.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// decodeJSON reads a JSON request body of at most limit bytes into v,
// refusing other content types, unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); !isMediaType(ct, "application/json") {
		return unsupportedMedia{fmt.Sprintf("want Content-Type: application/json, got %q", ct)}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badf("bad JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badf("bad JSON body: data after the object")
	}
	return nil
}

package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

const (
	testUser = "admin"
	testPass = "s3cret-Pa55"
)

// t0 is the test clock's start: 2026-03-02 12:00 in Tokyo.
var (
	tokyo = time.FixedZone("JST", 9*3600)
	t0    = time.Date(2026, 3, 2, 12, 0, 0, 0, tokyo)
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// normalizeJP is a small stand-in for the real normaliser: national
// Japanese numbers become +81 numbers.
func normalizeJP(s string) (string, error) {
	s = strings.NewReplacer("-", "", " ", "").Replace(s)
	switch {
	case strings.HasPrefix(s, "+"):
		return s, nil
	case strings.HasPrefix(s, "0") && len(s) >= 10 && strings.Trim(s, "0123456789") == "":
		return "+81" + s[1:], nil
	}
	return "", fmt.Errorf("%q is not a telephone number", s)
}

type testServer struct {
	*Server
	st    *store.Store
	lists *screening.Lists
	clock *clock
	h     http.Handler
}

// newTestServer returns a server on a fresh store; with, if given,
// changes its options (a tenant, the integrator's login).
func newTestServer(t *testing.T, with ...func(*Options)) *testServer {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callscreen.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{now: t0}
	lists := screening.NewLists(nil)
	opts := Options{
		Store: st, Normalize: normalizeJP,
		National: func(e164 string) string { return screening.NationalFormat(e164, "JP") },
		Username: testUser, Password: testPass,
		Location: tokyo, Now: c.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		State: func() State {
			return State{Version: "1.2.3", Started: t0.Add(-time.Hour), ARIEnabled: true, ARIConnected: true}
		},
	}
	for _, f := range with {
		f(&opts)
	}
	opts.Lists = service.New(st, lists, service.Options{Tenant: opts.Tenant, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: srv, st: st, lists: lists, clock: c, h: srv.Handler()}
}

// req describes one request.
type req struct {
	method, path, body, contentType string
	basic                           bool   // HTTP Basic with the right credentials
	cookie                          string // session cookie value
	csrf                            string // X-CSRF-Token
	remote                          string // client address (default 192.0.2.1:1234)
	header                          map[string]string
}

func (ts *testServer) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	} else if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.basic {
		hr.SetBasicAuth(testUser, testPass)
	}
	if r.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: cookieName, Value: r.cookie})
	}
	if r.csrf != "" {
		hr.Header.Set(csrfHeader, r.csrf)
	}
	hr.RemoteAddr = "192.0.2.1:1234"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, hr)
	return w
}

// login logs in and returns the cookie value and CSRF token.
func (ts *testServer) login(t *testing.T) (cookie, csrf string) {
	t.Helper()
	w := ts.do(t, req{method: "POST", path: "/api/login", body: fmt.Sprintf(`{"username":%q,"password":%q}`, testUser, testPass)})
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	var info sessionInfo
	decode(t, w, &info)
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			return c.Value, info.CSRFToken
		}
	}
	t.Fatal("login set no session cookie")
	return "", ""
}

func decode(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decoding %s: %v", w.Body, err)
	}
}

// wantError checks an error reply: the status and a JSON body whose error
// contains substr.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, substr string) {
	t.Helper()
	if w.Code != status {
		t.Errorf("status %d, want %d; body %s", w.Code, status, w.Body)
		return
	}
	var e apiError
	decode(t, w, &e)
	if e.Error == "" || !strings.Contains(e.Error, substr) {
		t.Errorf("error %q, want it to contain %q", e.Error, substr)
	}
}

// record builds a call log record minutes after t0.
func record(id string, minutes int, caller, name string, action screening.Action, outcome screening.Outcome, indicators ...string) screening.Record {
	at := t0.Add(time.Duration(minutes) * time.Minute)
	r := screening.Record{
		ID: id, Time: at, Mode: screening.ModeARI,
		Facts:   screening.Facts{ID: id, Time: at, Number: caller, Name: name, Called: "0399991000"},
		Verdict: screening.Verdict{CallID: id, Profile: "default", Presence: screening.Presented, Caller: caller, Action: action, Enforced: action},
		Taken:   action, Outcome: outcome,
	}
	for _, ind := range indicators {
		r.Verdict.Findings = append(r.Verdict.Findings, screening.Finding{Indicator: ind, Weight: 40, Evidence: "evidence of " + ind})
		r.Verdict.Score += 40
	}
	return r
}

func (ts *testServer) seedCalls(t *testing.T) {
	t.Helper()
	w, err := store.NewLogWriter(t.Context(), ts.st, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []screening.Record{
		record("c1", -24*60, "+81312345678", "Yamada Shoten", screening.Ring, screening.OutcomeRang),
		record("c2", -60, "+442079460958", "Amazon", screening.Reject, screening.OutcomeAnnounced, "international", "brand-display"),
		record("c3", -30, "+81312345678", "Yamada Shoten", screening.Ring, screening.OutcomeRang),
		record("c4", -10, "+815012345678", "<script>alert(1)</script>", screening.Voicemail, screening.OutcomeVoicemail, "velocity-prefix"),
	} {
		w.Write(r)
	}
	if err := w.Close(t.Context()); err != nil || w.Written() != 4 {
		t.Fatalf("%d records written: %v", w.Written(), err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"no store", Options{Username: "a", Password: "b"}},
		{"no user", Options{Store: st, Password: "b"}},
		{"empty password", Options{Store: st, Username: "a"}},
	} {
		if _, err := New(tt.opts); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := New(Options{Store: st, Username: "a", InsecurePassword: true}); err != nil {
		t.Errorf("empty password with InsecurePassword: %v", err)
	}
}

func TestAuthRequired(t *testing.T) {
	ts := newTestServer(t)
	i := 0
	for _, r := range []req{
		{method: "GET", path: "/api/session"},
		{method: "GET", path: "/api/state"},
		{method: "GET", path: "/api/calls"},
		{method: "GET", path: "/api/calls/c1"},
		{method: "GET", path: "/api/summary"},
		{method: "GET", path: "/api/lists/allow"},
		{method: "POST", path: "/api/lists/allow", body: `{"number":"+81312345678"}`},
		{method: "DELETE", path: "/api/lists/allow/+81312345678"},
		{method: "POST", path: "/api/lists/block/import", body: "+81312345678\n", contentType: "text/csv"},
		{method: "GET", path: "/api/lists/block/export"},
		{method: "POST", path: "/api/logout"},
	} {
		i++
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			wantError(t, ts.do(t, r), http.StatusUnauthorized, "log in")
			// A made-up session is no better.
			r.cookie = randomToken()
			wantError(t, ts.do(t, r), http.StatusUnauthorized, "session")
			// Nor is a wrong password.
			r.cookie = ""
			hr := r
			hr.header = map[string]string{"Authorization": "Basic " + basic(testUser, "wrong")}
			hr.remote = fmt.Sprintf("192.0.2.%d:1", 100+i)
			wantError(t, ts.do(t, hr), http.StatusUnauthorized, "wrong")
		})
	}
	if n, _ := ts.st.Count(t.Context(), screening.Allow); n != 0 {
		t.Errorf("an unauthenticated request changed the allow list (%d entries)", n)
	}
	// The page itself (which holds no data) loads without a login.
	if w := ts.do(t, req{method: "GET", path: "/"}); w.Code != http.StatusOK {
		t.Errorf("GET / = %d", w.Code)
	}
}

func basic(user, pass string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestLoginSession(t *testing.T) {
	ts := newTestServer(t)
	w := ts.do(t, req{method: "POST", path: "/api/login", body: `{"username":"admin","password":"nope"}`})
	wantError(t, w, http.StatusUnauthorized, "wrong user name or password")
	if len(w.Result().Cookies()) != 0 {
		t.Error("a failed login set a cookie")
	}

	w = ts.do(t, req{method: "POST", path: "/api/login", body: `{"username":"admin","password":"` + testPass + `"}`})
	if w.Code != http.StatusOK {
		t.Fatalf("login = %d %s", w.Code, w.Body)
	}
	var info sessionInfo
	decode(t, w, &info)
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if c.Name != cookieName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/ (not Secure over plain HTTP)", c)
	}
	if len(c.Value) != 43 { // 32 bytes, base64url without padding
		t.Errorf("session id %q is not 256 bits", c.Value)
	}
	if info.User != testUser || len(info.CSRFToken) != 43 || info.CSRFToken == c.Value {
		t.Errorf("login reply = %+v", info)
	}

	w = ts.do(t, req{method: "GET", path: "/api/session", cookie: c.Value})
	var again sessionInfo
	decode(t, w, &again)
	if again.User != testUser || again.CSRFToken != info.CSRFToken {
		t.Errorf("session = %+v, want the login's", again)
	}

	// Behind a TLS proxy the cookie is Secure.
	w = ts.do(t, req{method: "POST", path: "/api/login", body: `{"username":"admin","password":"` + testPass + `"}`,
		header: map[string]string{"X-Forwarded-Proto": "https"}})
	if c := w.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("cookie over https = %+v, want Secure", c)
	}

	// Bad login bodies.
	for _, tt := range []struct {
		body, ct string
		status   int
	}{
		{`{"username":"admin"`, "application/json", http.StatusBadRequest},
		{`{"username":"admin","password":"x","extra":1}`, "application/json", http.StatusBadRequest},
		{`username=admin&password=x`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
	} {
		w := ts.do(t, req{method: "POST", path: "/api/login", body: tt.body, contentType: tt.ct, remote: "198.51.100.7:1"})
		if w.Code != tt.status {
			t.Errorf("login with %s %q = %d, want %d", tt.ct, tt.body, w.Code, tt.status)
		}
	}
}

func TestSessionExpiryAndLogout(t *testing.T) {
	ts := newTestServer(t)
	cookie, csrf := ts.login(t)
	// Use keeps a session alive...
	for range 3 {
		ts.clock.Add(11 * time.Hour)
		if w := ts.do(t, req{method: "GET", path: "/api/state", cookie: cookie}); w.Code != http.StatusOK {
			t.Fatalf("session died while in use: %d", w.Code)
		}
	}
	// ... idleness ends it.
	ts.clock.Add(12*time.Hour + time.Second)
	wantError(t, ts.do(t, req{method: "GET", path: "/api/state", cookie: cookie}), http.StatusUnauthorized, "session expired")

	// Logout ends a session at once.
	cookie, csrf = ts.login(t)
	if w := ts.do(t, req{method: "POST", path: "/api/logout", cookie: cookie, csrf: csrf}); w.Code != http.StatusOK {
		t.Fatalf("logout = %d %s", w.Code, w.Body)
	}
	wantError(t, ts.do(t, req{method: "GET", path: "/api/state", cookie: cookie}), http.StatusUnauthorized, "session expired")

	// A session ends after 7 days however busy.
	cookie, _ = ts.login(t)
	for range 7 * 24 / 11 {
		ts.clock.Add(11 * time.Hour)
		ts.do(t, req{method: "GET", path: "/api/state", cookie: cookie})
	}
	ts.clock.Add(11 * time.Hour)
	wantError(t, ts.do(t, req{method: "GET", path: "/api/state", cookie: cookie}), http.StatusUnauthorized, "session expired")
}

func TestCSRF(t *testing.T) {
	ts := newTestServer(t)
	cookie, csrf := ts.login(t)
	body := `{"number":"+81312345678"}`
	for _, tt := range []struct {
		name   string
		r      req
		status int
	}{
		{"session without token", req{cookie: cookie}, http.StatusForbidden},
		{"session with a wrong token", req{cookie: cookie, csrf: wrongToken(csrf)}, http.StatusForbidden},
		{"session with the session id as token", req{cookie: cookie, csrf: cookie}, http.StatusForbidden},
		{"session with token, cross-site", req{cookie: cookie, csrf: csrf, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"session with token, foreign Origin", req{cookie: cookie, csrf: csrf, header: map[string]string{"Origin": "https://evil.example"}}, http.StatusForbidden},
		{"Basic, cross-site", req{basic: true, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"session with token", req{cookie: cookie, csrf: csrf}, http.StatusCreated},
		{"session with token, same origin", req{cookie: cookie, csrf: csrf, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}, http.StatusCreated},
		{"Basic from a script", req{basic: true}, http.StatusCreated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.method, r.path, r.body = "POST", "/api/lists/block", body
			w := ts.do(t, r)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusForbidden {
				var e apiError
				decode(t, w, &e)
				if n, _ := ts.st.Count(t.Context(), screening.Block); n != 0 {
					t.Errorf("a refused request changed the block list")
				}
			}
			ts.st.Delete(t.Context(), screening.Block, "+81312345678")
		})
	}
	// Safe methods need no token.
	if w := ts.do(t, req{method: "GET", path: "/api/lists/block", cookie: cookie}); w.Code != http.StatusOK {
		t.Errorf("GET with a session = %d", w.Code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	ts := newTestServer(t)
	bad := `{"username":"admin","password":"guess"}`
	good := `{"username":"admin","password":"` + testPass + `"}`
	const attacker = "203.0.113.5:4000"
	for i := range 5 {
		w := ts.do(t, req{method: "POST", path: "/api/login", body: bad, remote: attacker})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d", i+1, w.Code)
		}
	}
	// Now even the right password is refused from that address...
	w := ts.do(t, req{method: "POST", path: "/api/login", body: good, remote: attacker})
	wantError(t, w, http.StatusTooManyRequests, "too many failed logins")
	if ra := w.Header().Get("Retry-After"); ra != "900" {
		t.Errorf("Retry-After = %q, want 900", ra)
	}
	// ... and so is HTTP Basic.
	w = ts.do(t, req{method: "GET", path: "/api/state", basic: true, remote: attacker})
	wantError(t, w, http.StatusTooManyRequests, "too many failed logins")
	// Other addresses are not affected.
	if w := ts.do(t, req{method: "POST", path: "/api/login", body: good, remote: "198.51.100.1:1"}); w.Code != http.StatusOK {
		t.Errorf("login from another address = %d", w.Code)
	}
	// The window slides: after 15 minutes the address may try again.
	ts.clock.Add(15 * time.Minute)
	if w := ts.do(t, req{method: "POST", path: "/api/login", body: good, remote: attacker}); w.Code != http.StatusOK {
		t.Errorf("login after the window = %d %s", w.Code, w.Body)
	}

	// Failed HTTP Basic attempts count too.
	const script = "203.0.113.6:1"
	for range 5 {
		ts.do(t, req{method: "GET", path: "/api/state", remote: script, header: map[string]string{"Authorization": "Basic " + basic("admin", "x")}})
	}
	wantError(t, ts.do(t, req{method: "GET", path: "/api/state", basic: true, remote: script}), http.StatusTooManyRequests, "try again")
}

// gatedBody is a login body that reports its first read on reading and
// then holds the read until gate is closed: every attempt that gets as far
// as reading its body is in progress at once.
type gatedBody struct {
	r       io.Reader
	once    sync.Once
	reading chan<- struct{}
	gate    <-chan struct{}
}

func (b *gatedBody) Read(p []byte) (int, error) {
	b.once.Do(func() {
		b.reading <- struct{}{}
		<-b.gate
	})
	return b.r.Read(p)
}

// TestLoginRateLimitParallel sends many login attempts from one address at
// once, each holding its body until all have started: at most the limit
// may have their password checked, the right password among them or not.
func TestLoginRateLimitParallel(t *testing.T) {
	const n = 200
	got := parallelLogins(t, newTestServer(t), n, func(int) string { return "203.0.113.9:1" })
	if checked := got[http.StatusUnauthorized] + got[http.StatusOK]; checked > 5 {
		t.Errorf("%d attempts checked (%v), want at most the limit of 5", checked, got)
	}
	if refused := got[http.StatusTooManyRequests] + got[http.StatusServiceUnavailable]; refused < n-5 {
		t.Errorf("replies %v: %d refused, want at least %d", got, refused, n-5)
	}
}

// TestConcurrentLoginCap: logins from many addresses at once are capped
// as a whole.
func TestConcurrentLoginCap(t *testing.T) {
	const n = maxConcurrentLogins + 20
	got := parallelLogins(t, newTestServer(t), n, func(i int) string { return fmt.Sprintf("198.51.100.%d:1", i) })
	if got[http.StatusServiceUnavailable] != n-maxConcurrentLogins {
		t.Errorf("replies %v, want %d × 503", got, n-maxConcurrentLogins)
	}
}

// parallelLogins makes n login attempts at once, all with a wrong password
// but the last, and returns the count of each reply status. Each attempt
// that reads its body waits until every attempt has read or been answered.
func parallelLogins(t *testing.T, ts *testServer, n int, remote func(int) string) map[int]int {
	t.Helper()
	reading := make(chan struct{}, n)
	gate := make(chan struct{})
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		pass := "guess"
		if i == n-1 {
			pass = testPass
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := &gatedBody{r: strings.NewReader(fmt.Sprintf(`{"username":"admin","password":%q}`, pass)), reading: reading, gate: gate}
			hr := httptest.NewRequest("POST", "/api/login", body)
			hr.Header.Set("Content-Type", "application/json")
			hr.RemoteAddr = remote(i)
			w := httptest.NewRecorder()
			ts.h.ServeHTTP(w, hr)
			body.once.Do(func() { reading <- struct{}{} }) // answered before reading
			codes <- w.Code
		}()
	}
	for range n {
		<-reading
	}
	close(gate)
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	return got
}

func TestJSONErrorsForUnknownRoutes(t *testing.T) {
	ts := newTestServer(t)
	wantError(t, ts.do(t, req{method: "GET", path: "/api/nope", basic: true}), http.StatusNotFound, "no such API endpoint")
	w := ts.do(t, req{method: "PUT", path: "/api/calls", basic: true})
	wantError(t, w, http.StatusMethodNotAllowed, "not allowed")
	if !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("Allow = %q", w.Header().Get("Allow"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/", "/static/app.js", "/api/state"} {
		w := ts.do(t, req{method: "GET", path: path, basic: true})
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
}

func TestIndexLanguage(t *testing.T) {
	ts := newTestServer(t)
	for _, tt := range []struct{ header, want string }{
		{"", "en"},
		{"ja,en-US;q=0.9,en;q=0.8", "ja"},
		{"ja-JP", "ja"},
		{"en-US,en;q=0.9,ja;q=0.8", "en"},
		{"fr-FR,fr;q=0.9,ja;q=0.5", "ja"},
		{"de", "en"},
		{"en;q=0.2,ja;q=0.7", "ja"},
		{"ja;q=0", "en"},
	} {
		w := ts.do(t, req{method: "GET", path: "/", header: map[string]string{"Accept-Language": tt.header}})
		if !strings.Contains(w.Body.String(), `<html lang="`+tt.want+`">`) {
			t.Errorf("Accept-Language %q: page not in %s", tt.header, tt.want)
		}
	}
	if w := ts.do(t, req{method: "GET", path: "/static/"}); w.Code != http.StatusNotFound {
		t.Errorf("GET /static/ = %d, want 404 (no listing)", w.Code)
	}
}

// TestUIRendersTextOnly guards the rule that the page never turns API data
// into markup: the script uses no HTML-parsing sink.
func TestUIRendersTextOnly(t *testing.T) {
	js, err := fs.ReadFile(static, "static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'"} {
		if strings.Contains(string(js), sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
	html, _ := fs.ReadFile(static, "static/index.html")
	if strings.Contains(string(html), "<script>") || regexp.MustCompile(`\son[a-z]+=`).Match(html) {
		t.Error("index.html holds inline script (the CSP would block it)")
	}
}

// wrongToken returns a token of tok's length that differs from it in its
// first character, whatever that character is.
func wrongToken(tok string) string {
	c := byte('x')
	if tok != "" && tok[0] == c {
		c = 'y'
	}
	return string(c) + tok[1:]
}

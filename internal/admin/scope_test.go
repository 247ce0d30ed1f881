package admin

import (
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

const (
	integratorUser = "integrator"
	integratorPass = "fleet-s3cret-99"
)

// asOperator and asIntegrator are the HTTP Basic headers of the two
// logins.
var (
	asOperator   = map[string]string{"Authorization": "Basic " + basic(testUser, testPass)}
	asIntegrator = map[string]string{"Authorization": "Basic " + basic(integratorUser, integratorPass)}
)

// newFleetServer is server pbx-a of tenant "shop", with an integrator
// login, on a database holding the calls and entries of several servers
// and tenants.
func newFleetServer(t *testing.T) *testServer {
	t.Helper()
	ts := newTestServer(t, func(o *Options) {
		o.Server, o.Tenant = "pbx-a", "shop"
		o.IntegratorUsername, o.IntegratorPassword = integratorUser, integratorPass
	})
	ts.seedFleet(t)
	return ts
}

// seedFleet writes calls screened by three servers for two tenants (and
// one by a server without either), and entries of every scope.
func (ts *testServer) seedFleet(t *testing.T) {
	t.Helper()
	w, err := store.NewLogWriter(t.Context(), ts.st, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id             string
		minutes        int
		server, tenant string
	}{
		{"old", -25 * 60, "pbx-a", "shop"}, // before /api/fleet's 24 hours
		{"s1", -50, "pbx-a", "shop"},
		{"s2", -40, "pbx-b", "shop"},
		{"k1", -30, "pbx-a", "clinic"},
		{"k2", -20, "pbx-c", "clinic"},
		{"n1", -10, "", ""},
	} {
		r := record(c.id, c.minutes, "+81312345678", "", screening.Ring, screening.OutcomeRang)
		r.Server, r.Tenant = c.server, c.tenant
		w.Write(r)
	}
	if err := w.Close(t.Context()); err != nil || w.Written() != 6 {
		t.Fatalf("%d records written: %v", w.Written(), err)
	}
	for _, e := range []screening.Entry{
		{Kind: screening.Block, Number: "+81311110000", Reason: "fleet"},
		{Kind: screening.Block, Number: "+81322220000", Reason: "shop", Tenant: "shop"},
		{Kind: screening.Block, Number: "+81333330000", Reason: "clinic", Tenant: "clinic"},
	} {
		e.Source, e.Created = screening.SourceOperator, t0
		if err := ts.st.Put(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFleetCalls(t *testing.T) {
	ts := newFleetServer(t)
	for _, tt := range []struct {
		name, query string
		as          map[string]string
		want        string // the call IDs, newest first
		status      int
		msg         string
	}{
		{name: "operator sees its tenant's calls", as: asOperator, want: "s2 s1 old"},
		{name: "operator filters by server", query: "?server=pbx-b", as: asOperator, want: "s2"},
		{name: "operator names its own tenant", query: "?tenant=shop", as: asOperator, want: "s2 s1 old"},
		{name: "operator: another server's calls of another tenant stay hidden", query: "?server=pbx-c", as: asOperator, want: ""},
		{name: "operator may not see another tenant", query: "?tenant=clinic", as: asOperator, status: 403, msg: `tenant "shop"'s calls only`},
		{name: "integrator sees every call", as: asIntegrator, want: "n1 k2 k1 s2 s1 old"},
		{name: "integrator filters by tenant", query: "?tenant=clinic", as: asIntegrator, want: "k2 k1"},
		{name: "integrator filters by server", query: "?server=pbx-a", as: asIntegrator, want: "k1 s1 old"},
		{name: "integrator filters by both", query: "?server=pbx-a&tenant=shop&since=2026-03-02", as: asIntegrator, want: "s1"},
		{name: "integrator, unknown tenant", query: "?tenant=nobody", as: asIntegrator, want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := ts.do(t, req{method: "GET", path: "/api/calls" + tt.query, header: tt.as})
			if tt.status != 0 {
				wantError(t, w, tt.status, tt.msg)
				return
			}
			var r callsReply
			decode(t, w, &r)
			var ids []string
			for _, c := range r.Calls {
				ids = append(ids, c.ID)
			}
			if got := strings.Join(ids, " "); w.Code != http.StatusOK || got != tt.want {
				t.Errorf("GET /api/calls%s = %d %q, want %q", tt.query, w.Code, got, tt.want)
			}
		})
	}
	// Each record says where the decision was made.
	w := ts.do(t, req{method: "GET", path: "/api/calls/k2", header: asIntegrator})
	var rec screening.Record
	decode(t, w, &rec)
	if w.Code != http.StatusOK || rec.Server != "pbx-c" || rec.Tenant != "clinic" || !strings.Contains(w.Body.String(), `"server":"pbx-c"`) {
		t.Errorf("GET /api/calls/k2 as the integrator = %d %s", w.Code, w.Body)
	}
	// Another tenant's call is not found for the operator; its own is.
	wantError(t, ts.do(t, req{method: "GET", path: "/api/calls/k2", header: asOperator}), http.StatusNotFound, "no call")
	if w := ts.do(t, req{method: "GET", path: "/api/calls/s2", header: asOperator}); w.Code != http.StatusOK {
		t.Errorf("GET /api/calls/s2 as the operator = %d %s", w.Code, w.Body)
	}
}

func TestFleetListRead(t *testing.T) {
	ts := newFleetServer(t)
	for _, tt := range []struct {
		name, query string
		as          map[string]string
		want        string // number:scope:read-only of each entry
		total       int
		status      int
		msg         string
	}{
		{name: "operator sees its own and the fleet's", as: asOperator, want: "+81311110000:fleet:ro +81322220000:tenant:rw", total: 2},
		{name: "operator, fleet-wide only", query: "?scope=fleet", as: asOperator, want: "+81311110000:fleet:ro", total: 1},
		{name: "operator, its tenant's only", query: "?scope=tenant", as: asOperator, want: "+81322220000:tenant:rw", total: 1},
		{name: "operator names its tenant", query: "?tenant=shop", as: asOperator, want: "+81322220000:tenant:rw", total: 1},
		{name: "operator may not read another tenant", query: "?tenant=clinic", as: asOperator, status: 403, msg: `tenant "shop"'s entries and the fleet-wide ones only`},
		{name: "integrator sees every scope", as: asIntegrator, want: "+81311110000:fleet:rw +81322220000:tenant:rw +81333330000:tenant:rw", total: 3},
		{name: "integrator, fleet-wide only", query: "?scope=fleet", as: asIntegrator, want: "+81311110000:fleet:rw", total: 1},
		{name: "integrator, one tenant", query: "?tenant=clinic", as: asIntegrator, want: "+81333330000:tenant:rw", total: 1},
		{name: "integrator, this server's tenant", query: "?scope=tenant", as: asIntegrator, want: "+81322220000:tenant:rw", total: 1},
		{name: "unknown scope", query: "?scope=all", as: asIntegrator, status: 400, msg: "neither fleet nor tenant"},
		{name: "scope and tenant", query: "?scope=fleet&tenant=shop", as: asIntegrator, status: 400, msg: "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := ts.do(t, req{method: "GET", path: "/api/lists/block" + tt.query, header: tt.as})
			if tt.status != 0 {
				wantError(t, w, tt.status, tt.msg)
				return
			}
			var r entriesReply
			decode(t, w, &r)
			var got []string
			for _, e := range r.Entries {
				mode := "rw"
				if e.ReadOnly {
					mode = "ro"
				}
				got = append(got, e.Number+":"+e.Scope+":"+mode)
			}
			if strings.Join(got, " ") != tt.want || r.Total != tt.total {
				t.Errorf("GET /api/lists/block%s = %q total %d, want %q total %d", tt.query, got, r.Total, tt.want, tt.total)
			}
		})
	}
}

// scopesOf returns the scopes ("" fleet-wide) in which the store holds
// number on list k.
func scopesOf(t *testing.T, st *store.Store, k screening.ListKind, number string) []string {
	t.Helper()
	es, err := st.Entries(t.Context(), store.ListFilter{Kind: k, Prefix: number, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Number == number {
			out = append(out, e.Tenant)
		}
	}
	return out
}

func TestFleetListWrite(t *testing.T) {
	for _, tt := range []struct {
		name               string
		as                 map[string]string
		method, path, body string
		status             int
		msg                string
		number             string   // checked on the block list afterwards
		scopes             []string // number's scopes afterwards
		live               bool     // number blocked in this server's live lists afterwards
	}{
		{name: "operator adds to its tenant", as: asOperator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000"}`,
			status: 201, number: "+81344440000", scopes: []string{"shop"}, live: true},
		{name: "operator names its tenant", as: asOperator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","tenant":"shop"}`,
			status: 201, number: "+81344440000", scopes: []string{"shop"}, live: true},
		{name: "operator may not add fleet-wide", as: asOperator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","scope":"fleet"}`,
			status: 403, msg: "fleet-wide entries are read-only here", number: "+81344440000"},
		{name: "operator may not add to another tenant", as: asOperator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","tenant":"clinic"}`,
			status: 403, msg: `not tenant "clinic"'s`, number: "+81344440000"},
		{name: "operator may not remove a fleet-wide entry", as: asOperator, method: "DELETE", path: "/api/lists/block/+81311110000?scope=fleet",
			status: 403, msg: "read-only", number: "+81311110000", scopes: []string{""}},
		{name: "operator's delete of a fleet-wide number says it is read-only", as: asOperator, method: "DELETE", path: "/api/lists/block/+81311110000",
			status: 403, msg: "on the fleet-wide block list, which is read-only here", number: "+81311110000", scopes: []string{""}},
		{name: "operator's delete of a number on no list", as: asOperator, method: "DELETE", path: "/api/lists/block/+81355550000",
			status: 404, msg: `not on the block list of tenant "shop"`, number: "+81355550000"},
		{name: "operator removes its tenant's entry", as: asOperator, method: "DELETE", path: "/api/lists/block/+81322220000",
			status: 200, number: "+81322220000"},
		{name: "operator may not remove another tenant's", as: asOperator, method: "DELETE", path: "/api/lists/block/+81333330000?tenant=clinic",
			status: 403, msg: "changes tenant", number: "+81333330000", scopes: []string{"clinic"}},
		{name: "operator imports into its tenant", as: asOperator, method: "POST", path: "/api/lists/block/import", body: "+81344440000\n",
			status: 200, number: "+81344440000", scopes: []string{"shop"}},
		{name: "operator may not import fleet-wide", as: asOperator, method: "POST", path: "/api/lists/block/import?scope=fleet", body: "+81344440000\n",
			status: 403, msg: "read-only", number: "+81344440000"},
		{name: "integrator adds fleet-wide", as: asIntegrator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","scope":"fleet"}`,
			status: 201, number: "+81344440000", scopes: []string{""}, live: true},
		{name: "integrator adds to another tenant, not live here", as: asIntegrator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","tenant":"clinic"}`,
			status: 201, number: "+81344440000", scopes: []string{"clinic"}},
		{name: "integrator adds to this server's tenant by default", as: asIntegrator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000"}`,
			status: 201, number: "+81344440000", scopes: []string{"shop"}, live: true},
		{name: "integrator removes a fleet-wide entry", as: asIntegrator, method: "DELETE", path: "/api/lists/block/+81311110000?scope=fleet",
			status: 200, number: "+81311110000"},
		{name: "integrator removes another tenant's entry", as: asIntegrator, method: "DELETE", path: "/api/lists/block/+81333330000?tenant=clinic",
			status: 200, number: "+81333330000"},
		{name: "integrator imports into a tenant", as: asIntegrator, method: "POST", path: "/api/lists/block/import?tenant=clinic", body: "+81344440000\n",
			status: 200, number: "+81344440000", scopes: []string{"clinic"}},
		{name: "bad scope", as: asIntegrator, method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","scope":"everyone"}`,
			status: 400, msg: "neither fleet nor tenant", number: "+81344440000"},
		{name: "scope and tenant", as: asIntegrator, method: "DELETE", path: "/api/lists/block/+81333330000?scope=fleet&tenant=clinic",
			status: 400, msg: "not both", number: "+81333330000", scopes: []string{"clinic"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newFleetServer(t)
			r := req{method: tt.method, path: tt.path, body: tt.body, header: tt.as}
			if strings.Contains(tt.path, "/import") {
				r.contentType = "text/csv"
			}
			w := ts.do(t, r)
			if tt.msg != "" {
				wantError(t, w, tt.status, tt.msg)
			} else if w.Code != tt.status {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, w.Code, w.Body, tt.status)
			}
			if got := scopesOf(t, ts.st, screening.Block, tt.number); !slices.Equal(got, tt.scopes) {
				t.Errorf("%s is on the block list in scopes %q, want %q", tt.number, got, tt.scopes)
			}
			if tt.method == "POST" && !strings.Contains(tt.path, "/import") {
				if _, live := ts.lists.Lookup(screening.Block, tt.number, t0); live != tt.live {
					t.Errorf("%s blocked in this server's live lists: %v, want %v", tt.number, live, tt.live)
				}
			}
		})
	}
}

func TestFleetEndpoint(t *testing.T) {
	ts := newFleetServer(t)
	wantError(t, ts.do(t, req{method: "GET", path: "/api/fleet", header: asOperator}), http.StatusForbidden, "integrator login")

	w := ts.do(t, req{method: "GET", path: "/api/fleet", header: asIntegrator})
	var r fleetReply
	decode(t, w, &r)
	var servers, tenants []string
	for _, s := range r.Servers {
		servers = append(servers, s.Server+"/"+s.Tenant+"="+itoa(s.Calls))
	}
	for _, tn := range r.Tenants {
		tenants = append(tenants, tn.Tenant+"="+itoa(tn.Calls)+"@"+strings.Join(tn.Servers, ","))
	}
	// "old", 25 hours ago, is outside the last 24 hours.
	wantServers := "/=1 pbx-a/clinic=1 pbx-a/shop=1 pbx-b/shop=1 pbx-c/clinic=1"
	wantTenants := "=1@ clinic=2@pbx-a,pbx-c shop=2@pbx-a,pbx-b"
	if w.Code != http.StatusOK || strings.Join(servers, " ") != wantServers || strings.Join(tenants, " ") != wantTenants {
		t.Errorf("GET /api/fleet = %d\nservers %q, want %q\ntenants %q, want %q", w.Code, servers, wantServers, tenants, wantTenants)
	}
	if !r.Since.Equal(t0.Add(-24*time.Hour)) || !r.Until.Equal(t0) {
		t.Errorf("period %v..%v, want the 24 hours before %v", r.Since, r.Until, t0)
	}
	// A longer period takes the older call in.
	w = ts.do(t, req{method: "GET", path: "/api/fleet?since=2026-03-01", header: asIntegrator})
	decode(t, w, &r)
	if len(r.Servers) != 5 || r.Servers[2].Server != "pbx-a" || r.Servers[2].Calls != 2 {
		t.Errorf("GET /api/fleet?since=2026-03-01 = %+v", r.Servers)
	}
	wantError(t, ts.do(t, req{method: "GET", path: "/api/fleet?since=2099-01-01", header: asIntegrator}), http.StatusBadRequest, "past")
	wantError(t, ts.do(t, req{method: "GET", path: "/api/fleet?server=x", header: asIntegrator}), http.StatusBadRequest, "unknown parameter")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestFleetStateAndLogin(t *testing.T) {
	ts := newFleetServer(t)
	for _, tt := range []struct {
		user, pass string
		role       role
	}{
		{testUser, testPass, roleOperator},
		{integratorUser, integratorPass, roleIntegrator},
	} {
		t.Run(string(tt.role), func(t *testing.T) {
			w := ts.do(t, req{method: "POST", path: "/api/login", body: `{"username":"` + tt.user + `","password":"` + tt.pass + `"}`})
			var info sessionInfo
			decode(t, w, &info)
			if w.Code != http.StatusOK || info.Role != tt.role {
				t.Fatalf("login as %s = %d %s", tt.user, w.Code, w.Body)
			}
			var cookie string
			for _, c := range w.Result().Cookies() {
				if c.Name == cookieName {
					cookie = c.Value
				}
			}
			w = ts.do(t, req{method: "GET", path: "/api/state", cookie: cookie})
			var st stateReply
			decode(t, w, &st)
			if st.Server != "pbx-a" || st.Tenant != "shop" || st.Role != tt.role || st.User != tt.user {
				t.Errorf("state = server %q tenant %q role %q user %q", st.Server, st.Tenant, st.Role, st.User)
			}
			// The session keeps the role: the fleet view answers only the
			// integrator's.
			code := ts.do(t, req{method: "GET", path: "/api/fleet", cookie: cookie}).Code
			if want := map[role]int{roleOperator: 403, roleIntegrator: 200}[tt.role]; code != want {
				t.Errorf("GET /api/fleet in the session = %d, want %d", code, want)
			}
		})
	}
	// One login's name with the other's password is no login.
	for i, h := range []string{basic(integratorUser, testPass), basic(testUser, integratorPass)} {
		w := ts.do(t, req{method: "GET", path: "/api/state", header: map[string]string{"Authorization": "Basic " + h}, remote: "192.0.2." + itoa(50+i) + ":1"})
		wantError(t, w, http.StatusUnauthorized, "wrong")
	}
}

// TestNoTenant: a server without a tenant (a single server) keeps its
// one login as it was, and has no integrator login unless configured.
func TestNoTenant(t *testing.T) {
	ts := newTestServer(t)
	ts.seedFleet(t)
	// Every call and entry, as before fleet mode.
	_, r := callIDs(t, ts, "?limit=10")
	if len(r.Calls) != 6 {
		t.Errorf("%d calls, want all 6", len(r.Calls))
	}
	w := ts.do(t, req{method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","scope":"fleet"}`, basic: true})
	if w.Code != http.StatusCreated {
		t.Errorf("POST scope=fleet = %d %s", w.Code, w.Body)
	}
	wantError(t, ts.do(t, req{method: "POST", path: "/api/lists/block", body: `{"number":"+81344440000","tenant":"clinic"}`, basic: true}), http.StatusForbidden, "no tenant")
	wantError(t, ts.do(t, req{method: "GET", path: "/api/fleet", basic: true}), http.StatusForbidden, "integrator login")
	// No integrator login: empty credentials are not one.
	w = ts.do(t, req{method: "GET", path: "/api/state", header: map[string]string{"Authorization": "Basic " + basic("", "")}})
	wantError(t, w, http.StatusUnauthorized, "wrong")
}

func TestNewRefusesBadIntegrator(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tt := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"same name as the operator", Options{Store: st, Username: "a", Password: "b", IntegratorUsername: "a", IntegratorPassword: "c"}, false},
		{"empty password", Options{Store: st, Username: "a", Password: "b", IntegratorUsername: "i"}, false},
		{"empty password for a lab", Options{Store: st, Username: "a", InsecurePassword: true, IntegratorUsername: "i"}, true},
		{"both set", Options{Store: st, Username: "a", Password: "b", IntegratorUsername: "i", IntegratorPassword: "c"}, true},
	} {
		if _, err := New(tt.opts); (err == nil) != tt.ok {
			t.Errorf("%s: New err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestFleetSummary: the overview of a tenant's login counts its tenant's
// calls; the integrator's, and a server's without a tenant, count all.
func TestFleetSummary(t *testing.T) {
	ts := newFleetServer(t)
	single := newTestServer(t)
	single.seedFleet(t)
	for _, tt := range []struct {
		name  string
		ts    *testServer
		as    map[string]string
		calls int
	}{
		{"operator of tenant shop", ts, asOperator, 3},
		{"integrator", ts, asIntegrator, 6},
		{"server without a tenant", single, asOperator, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.ts.do(t, req{method: "GET", path: "/api/summary", header: tt.as})
			var r summaryReply
			decode(t, w, &r)
			days := 0
			for _, d := range r.Days {
				days += d.Calls
			}
			if w.Code != http.StatusOK || r.Calls != tt.calls || days != tt.calls {
				t.Errorf("summary = %d: %d calls, %d in the days; want %d", w.Code, r.Calls, days, tt.calls)
			}
		})
	}
}

// TestFleetListExport checks that an export is one scope's entries: the
// server's tenant's unless the query names another the login may read.
func TestFleetListExport(t *testing.T) {
	ts := newFleetServer(t)
	for _, tt := range []struct {
		name, query string
		as          map[string]string
		want        []string // numbers in the file
		status      int
	}{
		{"operator: its tenant's", "", asOperator, []string{"+81322220000"}, 0},
		{"operator: the fleet-wide ones", "?scope=fleet", asOperator, []string{"+81311110000"}, 0},
		{"operator may not export another tenant", "?tenant=clinic", asOperator, nil, 403},
		{"integrator: one tenant", "?tenant=clinic", asIntegrator, []string{"+81333330000"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := ts.do(t, req{method: "GET", path: "/api/lists/block/export" + tt.query, header: tt.as})
			if tt.status != 0 {
				if w.Code != tt.status {
					t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
				}
				return
			}
			body := w.Body.String()
			for _, n := range []string{"+81311110000", "+81322220000", "+81333330000"} {
				if strings.Contains(body, n) != slices.Contains(tt.want, n) {
					t.Errorf("export%s: %s present %v, want %v:\n%s", tt.query, n, strings.Contains(body, n), slices.Contains(tt.want, n), body)
				}
			}
		})
	}
}

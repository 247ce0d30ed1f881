package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/admin"
	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

const (
	fleetIntegrator = "integrator"
	fleetPassword   = "integrator-s3cret-pass"
)

// TestDashboardFleet: in a real browser, the dashboard of server pbx-a
// (tenant "shop") shows the server and tenant; the operator's login sees
// the shop's calls and entries, the fleet-wide entries read-only, and
// adds entries for the shop only; the integrator's login sees every
// server's and tenant's calls with a tenant filter, the servers of the
// last 24 hours, and adds a fleet-wide entry.
func TestDashboardFleet(t *testing.T) {
	if !enabled {
		t.Skip(skipReason)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "callscreen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedFleet(t, st)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := admin.New(admin.Options{
		Store: st, Lists: service.New(st, screening.NewLists(nil), service.Options{Tenant: "shop", Logger: quiet}),
		Username: dashboardUser, Password: dashboardPassword,
		IntegratorUsername: fleetIntegrator, IntegratorPassword: fleetPassword,
		Server: "pbx-a", Tenant: "shop", Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	shots := t.TempDir()

	login := func(t *testing.T, user, pass string) *browser {
		b := startBrowser(t, 1440, 900)
		b.navigate(hs.URL + "/")
		b.waitFor("the login form", `!document.getElementById('login-view').hidden`, 10*time.Second)
		b.typeText("#login-user", user)
		b.typeText("#login-pass", pass)
		b.click("#login-form button[type=submit]")
		b.waitFor("the dashboard", `!document.getElementById('app-view').hidden`, 10*time.Second)
		b.waitFor("the server and tenant in the top bar", `document.getElementById('where').textContent.includes('pbx-a') && document.getElementById('where').textContent.includes('shop')`, 10*time.Second)
		return b
	}
	column := func(b *browser, cls string) []string {
		var out []string
		b.eval(fmt.Sprintf(`[...document.querySelectorAll('#calls-body tr.call-row td.%s')].map((n) => n.textContent)`, cls), &out)
		return out
	}

	t.Run("operator", func(t *testing.T) {
		b := login(t, dashboardUser, dashboardPassword)
		defer b.close()
		b.eval(`location.hash = "#calls"`, nil)
		b.waitFor("the shop's calls", `document.querySelectorAll('#calls-body tr.call-row').length === 2`, 10*time.Second)
		if got := column(b, "server"); !slices.Equal(got, []string{"pbx-b", "pbx-a"}) {
			t.Errorf("server column %q, want the shop's two servers", got)
		}
		var tenantCol bool
		b.eval(`!document.querySelector('#calls-table th.fleet-tenant').hidden || document.querySelectorAll('#calls-body td.tenant').length > 0`, &tenantCol)
		if tenantCol {
			t.Error("the operator's call log shows a tenant column")
		}
		b.eval(`location.hash = "#lists"`, nil)
		b.click(`#list-kinds button[data-kind=block]`)
		b.waitFor("the block list", `document.querySelectorAll('#entries-body tr').length === 2`, 10*time.Second)
		var rows []struct{ Number, Scope, Action string }
		b.eval(`[...document.querySelectorAll('#entries-body tr')].map((r) => ({Number: r.dataset.number, Scope: r.dataset.scope,
			Action: r.querySelector('td.actions-col button') ? 'remove' : r.querySelector('td.actions-col').textContent}))`, &rows)
		want := []struct{ Number, Scope, Action string }{{"+81311110000", "fleet", "fleet-wide, read-only"}, {"+81322220000", "tenant", "remove"}}
		if !slices.Equal(rows, want) {
			t.Errorf("block list rows %+v, want %+v", rows, want)
		}
		var scopes struct {
			Options  []string
			Disabled bool
		}
		b.eval(`({Options: [...document.getElementById('add-scope').options].map((o) => o.value), Disabled: document.getElementById('add-scope').disabled})`, &scopes)
		if !slices.Equal(scopes.Options, []string{"t:shop"}) || !scopes.Disabled {
			t.Errorf("the operator's scope picker = %+v, want the shop only", scopes)
		}
		b.typeText("#add-number", "+81355550001")
		b.click("#list-add button[type=submit]")
		b.waitFor("the new entry", `document.querySelector('#entries-body tr[data-number="+81355550001"]')`, 10*time.Second)
		if got := tenantsOf(t, st, "+81355550001"); !slices.Equal(got, []string{"shop"}) {
			t.Errorf("the operator's new entry is in scopes %q, want the shop's", got)
		}
		b.screenshot(filepath.Join(shots, "operator-lists.png"))
	})

	t.Run("integrator", func(t *testing.T) {
		b := login(t, fleetIntegrator, fleetPassword)
		defer b.close()
		b.waitFor("the servers of the last 24 hours", `!document.getElementById('fleet-card').hidden && document.querySelectorAll('#fleet-body tr').length === 4`, 10*time.Second)
		b.screenshot(filepath.Join(shots, "integrator-overview.png"))
		b.eval(`location.hash = "#calls"`, nil)
		b.waitFor("every call", `document.querySelectorAll('#calls-body tr.call-row').length === 4`, 10*time.Second)
		if got := column(b, "tenant"); !slices.Equal(got, []string{"clinic", "clinic", "shop", "shop"}) {
			t.Errorf("tenant column %q", got)
		}
		b.typeText("#f-tenant", "clinic")
		b.click("#call-filters button[type=submit]")
		b.waitFor("the clinic's calls", `document.querySelectorAll('#calls-body tr.call-row').length === 2`, 10*time.Second)
		if got := column(b, "server"); !slices.Equal(got, []string{"pbx-c", "pbx-a"}) {
			t.Errorf("the clinic's calls were screened on %q, want pbx-c and pbx-a", got)
		}
		b.screenshot(filepath.Join(shots, "integrator-calls.png"))
		b.eval(`location.hash = "#lists"`, nil)
		b.click(`#list-kinds button[data-kind=block]`)
		b.waitFor("every scope's entries", `document.querySelectorAll('#entries-body tr').length === 4 && !document.querySelector('#entries-body td.actions-col span')`, 10*time.Second)
		b.waitFor("the server's tenant as the default scope", `document.getElementById('add-scope').value === 't:shop' && document.getElementById('add-scope').options.length === 3`, 10*time.Second)
		b.eval(`(() => { const s = document.getElementById('add-scope'); s.value = 'fleet'; s.dispatchEvent(new Event('change')); return s.value; })()`, nil)
		b.typeText("#add-number", "+81355550002")
		b.click("#list-add button[type=submit]")
		b.waitFor("the new fleet-wide entry", `document.querySelector('#entries-body tr[data-number="+81355550002"][data-scope=fleet]')`, 10*time.Second)
		if got := tenantsOf(t, st, "+81355550002"); !slices.Equal(got, []string{""}) {
			t.Errorf("the integrator's new entry is in scopes %q, want fleet-wide", got)
		}
		b.screenshot(filepath.Join(shots, "integrator-lists.png"))
	})
	// On a phone, the fleet view's extra columns, filters and the top
	// bar's server and tenant still fit the screen.
	t.Run("integrator on a phone", func(t *testing.T) {
		b := startBrowser(t, 390, 844)
		defer b.close()
		b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true}, nil)
		b.navigate(hs.URL + "/")
		b.waitFor("the login form", `!document.getElementById('login-view').hidden`, 10*time.Second)
		b.typeText("#login-user", fleetIntegrator)
		b.typeText("#login-pass", fleetPassword)
		b.click("#login-form button[type=submit]")
		b.waitFor("the fleet view", `!document.getElementById('fleet-card').hidden && document.querySelectorAll('#fleet-body tr').length > 0`, 10*time.Second)
		checkLayout(t, b, "overview", 390)
		b.eval(`location.hash = "#calls"`, nil)
		b.waitFor("the call log", `document.querySelectorAll('#calls-body tr.call-row td.tenant').length > 0`, 10*time.Second)
		checkLayout(t, b, "calls", 390)
		b.eval(`location.hash = "#lists"`, nil)
		b.click(`#list-kinds button[data-kind=block]`)
		b.waitFor("the lists", `document.querySelectorAll('#entries-body button').length > 0 && !document.getElementById('entries-scope').hidden`, 10*time.Second)
		checkLayout(t, b, "lists", 390)
		b.screenshot(filepath.Join(shots, "integrator-phone-lists.png"))
	})
	t.Logf("screenshots in %s", shots)
}

// seedFleet writes calls of three servers and two tenants, and block
// entries of every scope.
func seedFleet(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	w, err := store.NewLogWriter(ctx, st, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ server, tenant string }{{"pbx-a", "shop"}, {"pbx-b", "shop"}, {"pbx-a", "clinic"}, {"pbx-c", "clinic"}} {
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		r := screening.Record{ID: fmt.Sprintf("fleet.%d", i), Time: at, Mode: screening.ModeARI, Taken: screening.Ring, Outcome: screening.OutcomeRang,
			Server: c.server, Tenant: c.tenant}
		r.Facts.Number, r.Facts.Called = fmt.Sprintf("+8139876000%d", i), ownNumber
		r.Verdict = screening.Verdict{CallID: r.ID, Profile: "default", Presence: screening.Presented, Caller: r.Facts.Number, Action: screening.Ring}
		w.Write(r)
	}
	if err := w.Close(ctx); err != nil || w.Written() != 4 {
		t.Fatalf("%d records written: %v", w.Written(), err)
	}
	for _, e := range []screening.Entry{
		{Kind: screening.Block, Number: "+81311110000", Reason: "fleet-wide"},
		{Kind: screening.Block, Number: "+81322220000", Reason: "the shop's", Tenant: "shop"},
		{Kind: screening.Block, Number: "+81333330000", Reason: "the clinic's", Tenant: "clinic"},
	} {
		e.Source, e.Created = screening.SourceOperator, time.Now()
		if err := st.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

// tenantsOf returns the scopes in which number is on the block list.
func tenantsOf(t *testing.T, st *store.Store, number string) []string {
	t.Helper()
	es, err := st.Entries(context.Background(), store.ListFilter{Kind: screening.Block, Prefix: number})
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

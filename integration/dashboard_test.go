package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// The admin dashboard's credentials in the test configuration
// (fixture_test.go passes the password as CALLSCREEN_HTTP_PASSWORD).
const (
	dashboardUser     = "admin"
	dashboardPassword = "dashboard-test-pass"
)

// TestDashboard is issue 7's "done when": a block-listed caller is
// rejected; in a real (headless) browser the operator logs in to the
// dashboard, finds the rejected call in the log and clicks Allow on its row;
// the caller's next call rings the desk phone. On the way it checks that a
// caller-controlled display name is shown as text, that the page speaks
// Japanese on request, and it saves screenshots for the README.
func TestDashboard(t *testing.T) {
	f := getFixture(t)
	const (
		caller   = "0387650001"
		e164     = "+81387650001"
		evilName = "<script>alert(1)</script>"
	)
	base := "http://" + httpListen

	// The operator's script puts the number on the block list through the
	// JSON API (HTTP Basic); the API applies it at once.
	if code, body := dashboardAPI(t, "POST", "/api/lists/block", `{"number":"03-8765-0001","reason":"dashboard test"}`); code != http.StatusCreated {
		t.Fatalf("POST /api/lists/block = %d %s", code, body)
	}
	t.Cleanup(func() {
		dashboardAPI(t, "DELETE", "/api/lists/allow/"+e164, "")
		dashboardAPI(t, "DELETE", "/api/lists/block/"+e164, "")
	})

	// A few ordinary calls, so that the log and the screenshot show more
	// than the one under test.
	f.call(t, harness.CallSpec{To: ownNumber, FromUser: "0398760002", FromName: "Tanaka Clinic", Hold: time.Second})
	f.call(t, harness.CallSpec{To: ownNumber, FromUser: "+18775550177", Hold: 3 * time.Second})
	f.call(t, harness.CallSpec{To: ownNumber, FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid", Hold: 30 * time.Second})

	// 1. The block-listed caller (with a display name that is markup) is
	// rejected, and the desk never rings.
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, FromName: evilName, Hold: 20 * time.Second})
	if f.invitesFrom(caller) != 0 {
		t.Fatalf("the desk phone rang for a block-listed caller: %s", r)
	}
	rejected := f.lastRecord(t, e164, start)
	t.Log(rejected)
	if rejected.Verdict.Action != "reject" || rejected.Facts.Name != evilName {
		t.Fatalf("want a rejected call with the name %q: %s (name %q)", evilName, rejected, rejected.Facts.Name)
	}

	// 2. The operator logs in with the browser.
	b := startBrowser(t, 1440, 900)
	b.navigate(base + "/")
	b.waitFor("the login form", `!document.getElementById('login-view').hidden`, 10*time.Second)
	b.typeText("#login-user", dashboardUser)
	b.typeText("#login-pass", "wrong password")
	b.click("#login-form button[type=submit]")
	b.waitFor("the login error", `!document.getElementById('login-error').hidden`, 10*time.Second)
	b.eval(`document.getElementById('login-pass').value = ''`, nil)
	b.typeText("#login-pass", dashboardPassword)
	b.click("#login-form button[type=submit]")
	b.waitFor("the dashboard", `!document.getElementById('app-view').hidden`, 10*time.Second)
	var cookieVisible bool
	b.eval(`document.cookie.includes('callscreen_session')`, &cookieVisible)
	if cookieVisible {
		t.Error("the session cookie is readable from JavaScript (want HttpOnly)")
	}

	// 3. It finds the rejected call in the log: search by the number as
	// typed in national form.
	b.eval(`location.hash = '#calls'`, nil)
	b.waitFor("the call log", `!document.getElementById('page-calls').hidden`, 10*time.Second)
	b.typeText("#f-caller", "03-8765-0001")
	b.click("#call-filters button[type=submit]")
	row := fmt.Sprintf(`#calls-body tr[data-id=%q]`, rejected.ID)
	b.waitFor("the rejected call's row", fmt.Sprintf(`document.querySelector(%q) && document.querySelectorAll('#calls-body tr.call-row').length === 1`, row), 15*time.Second)
	var cells struct {
		Caller, Hover, Name, Verdict string
		Scripts                      int
	}
	b.eval(fmt.Sprintf(`(() => {
		const r = document.querySelector(%q);
		return {Caller: r.querySelector('.caller').textContent, Hover: r.querySelector('.caller').title, Name: r.querySelector('.name').textContent,
			Verdict: r.querySelector('.badge').textContent, Scripts: document.querySelectorAll('#calls-body script, #calls-body img').length};
	})()`, row), &cells)
	// Japanese office habit: the national format, E.164 on hover.
	if cells.Caller != "03-8765-0001" || cells.Hover != e164 || cells.Verdict != "Reject" {
		t.Errorf("row shows caller %q (hover %q), decision %q; want 03-8765-0001 (hover %s), Reject", cells.Caller, cells.Hover, cells.Verdict, e164)
	}
	if cells.Name != evilName || cells.Scripts != 0 || b.dialogs() != 0 {
		t.Errorf("the caller's name was not rendered as text: cell %q, %d elements made from it, %d dialogs", cells.Name, cells.Scripts, b.dialogs())
	}

	// 4. Allow, confirmed in the dialog with a reason.
	b.click(row + ` button[data-action=allow]`)
	b.waitFor("the confirmation dialog", `!document.getElementById('modal').hidden`, 5*time.Second)
	var dialog string
	b.eval(`document.getElementById('modal-body').textContent`, &dialog)
	if !strings.Contains(dialog, e164) {
		t.Errorf("the dialog does not name the number: %q", dialog)
	}
	b.typeText("#modal-reason", "customer, allowed from the dashboard")
	b.click("#modal-ok")
	b.waitFor("the confirmation toast", fmt.Sprintf(`!document.getElementById('toast').hidden && document.getElementById('toast').textContent.includes(%q)`, e164), 10*time.Second)

	var allow struct {
		Entries []struct{ Number, Reason, Source string }
	}
	dashboardJSON(t, "/api/lists/allow?prefix="+strings.Replace(e164, "+", "%2B", 1), &allow)
	if len(allow.Entries) != 1 || allow.Entries[0].Reason != "customer, allowed from the dashboard" || allow.Entries[0].Source != "operator" {
		t.Errorf("allow list after the click: %+v", allow.Entries)
	}
	var block struct{ Entries []any }
	dashboardJSON(t, "/api/lists/block?prefix="+strings.Replace(e164, "+", "%2B", 1), &block)
	if len(block.Entries) != 0 {
		t.Errorf("the number is still on the block list: %+v", block.Entries)
	}

	// 5. The caller's next call rings the desk phone, with no reload wait:
	// the API applied the entry to the running screener at once.
	start = time.Now()
	r = f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, FromName: "Suzuki", Hold: time.Second})
	if !r.Answered {
		t.Errorf("not answered: %s", r)
	}
	f.waitRang(t, caller, 1)
	rang := f.lastRecord(t, e164, start)
	t.Log(rang)
	if rang.Verdict.Action != "ring" || rang.Outcome != "rang" || !strings.Contains(rang.Verdict.Override, "allow") {
		t.Errorf("want ring by the allow list: %s", rang)
	}

	// 6. The page speaks Japanese on request and remembers it.
	b.click(".topbar .lang-toggle")
	b.waitFor("Japanese labels", `document.querySelector('.tabs a[data-page=calls]').textContent === '着信履歴'`, 5*time.Second)
	b.reload()
	b.waitFor("Japanese after a reload", `!document.getElementById('app-view').hidden && document.querySelector('.tabs a[data-page=calls]').textContent === '着信履歴'`, 10*time.Second)
	b.click(".topbar .lang-toggle")
	b.waitFor("English labels", `document.querySelector('.tabs a[data-page=calls]').textContent === 'Call log'`, 5*time.Second)

	// 7. Screenshots for the README: the call log and the overview.
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b.eval(`document.getElementById('f-reset').click()`, nil)
	b.waitFor("the whole log", `document.querySelectorAll('#calls-body tr.call-row').length >= 5`, 10*time.Second)
	b.eval(`document.getElementById('toast').hidden = true`, nil)
	shot := filepath.Join(repo, "docs", "dashboard.png")
	b.screenshot(shot)
	b.eval(`location.hash = '#overview'`, nil)
	b.waitFor("the chart", `document.querySelectorAll('#chart rect').length > 0 && document.querySelectorAll('#state div').length > 0`, 10*time.Second)
	b.screenshot(filepath.Join(repo, "docs", "dashboard-overview.png"))
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshots in %s", filepath.Join(repo, "docs"))
}

// dashboardAPI calls the fixture's admin API with HTTP Basic and returns
// the status and body.
func dashboardAPI(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return adminAPI(t, "http://"+httpListen, method, path, body)
}

// adminAPI calls the admin API at base (http://host:port) with HTTP Basic
// and returns the status and body.
func adminAPI(t *testing.T, base, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(dashboardUser, dashboardPassword)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dashboardJSON GETs an API path and decodes the reply.
func dashboardJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body := dashboardAPI(t, "GET", path, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

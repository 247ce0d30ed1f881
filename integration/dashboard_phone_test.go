package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// TestDashboardLayout: on a phone (390 x 844, mobile emulation) and on a
// desktop, every page of the dashboard fits the screen (no horizontal
// scroll, no zooming out) and every control is on screen: the tabs, the
// language switch, Sign out, the filters, each row's buttons, the lists'
// delete buttons.
func TestDashboardLayout(t *testing.T) {
	if !enabled {
		t.Skip(skipReason)
	}
	base := startDashboardOnly(t)
	// A call in the log (a row with Allow and Block buttons) and a list
	// entry with a long reason (a row with its delete button).
	if code, body := adminAPI(t, base, "POST", "/api/lists/block", `{"number":"03-8765-0099","reason":"a rather long reason so the row has something to wrap"}`); code != http.StatusCreated {
		t.Fatalf("POST /api/lists/block = %d %s", code, body)
	}

	for _, size := range []struct {
		name   string
		w, h   int
		mobile bool
	}{
		{"phone", 390, 844, true},
		{"desktop", 1440, 900, false},
	} {
		t.Run(size.name, func(t *testing.T) {
			b := startBrowser(t, size.w, size.h)
			defer b.close()
			scale := 1
			if size.mobile {
				scale = 3
			}
			b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size.w, "height": size.h, "deviceScaleFactor": scale, "mobile": size.mobile}, nil)
			b.navigate(base + "/")
			b.waitFor("the login form", `!document.getElementById('login-view').hidden`, 10*time.Second)
			checkLayout(t, b, "login", size.w)
			b.typeText("#login-user", dashboardUser)
			b.typeText("#login-pass", dashboardPassword)
			b.click("#login-form button[type=submit]")
			b.waitFor("the dashboard", `!document.getElementById('app-view').hidden`, 10*time.Second)
			for _, page := range []struct{ name, ready string }{
				{"overview", `true`},
				{"calls", `document.querySelectorAll('#calls-body tr.call-row button').length > 0`},
				{"lists", `document.querySelectorAll('#entries-body button').length > 0`},
			} {
				b.eval(fmt.Sprintf(`location.hash = '#%s'`, page.name), nil)
				if page.name == "lists" {
					b.waitFor("the lists page", `!document.getElementById('page-lists').hidden`, 10*time.Second)
					b.click(`#list-kinds button[data-kind=block]`)
				}
				b.waitFor("the "+page.name+" page", fmt.Sprintf(`!document.getElementById('page-%s').hidden && (%s)`, page.name, page.ready), 15*time.Second)
				checkLayout(t, b, page.name, size.w)
			}
		})
	}
}

// checkLayout fails when the page is wider than the viewport, the
// browser zoomed out to fit it, or a visible control is off screen.
func checkLayout(t *testing.T, b *browser, page string, width int) {
	t.Helper()
	var got struct {
		ScrollWidth, InnerWidth int
		Scale                   float64
		Controls                int
		Off                     []string
	}
	b.eval(`(() => {
		const w = window.innerWidth, off = [];
		let n = 0;
		for (const el of document.querySelectorAll('button, input, select, a, .tabs a')) {
			if (el.closest('[hidden]') || el.offsetParent === null) continue;
			const r = el.getBoundingClientRect();
			if (r.width === 0 && r.height === 0) continue;
			n++;
			if (r.left < -0.5 || r.right > w + 0.5 || r.width < 8 || r.height < 8) {
				off.push((el.id || el.textContent.trim() || el.outerHTML.slice(0, 60)) + ' [' + Math.round(r.left) + '..' + Math.round(r.right) + ' x ' + Math.round(r.height) + ']');
			}
		}
		return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w,
			Scale: window.visualViewport ? window.visualViewport.scale : 1, Controls: n, Off: off};
	})()`, &got)
	if got.InnerWidth != width || got.Scale != 1 {
		t.Errorf("%s: the page is shown %d px wide at scale %.2f, want %d at 1 (zoomed out to fit)", page, got.InnerWidth, got.Scale, width)
	}
	if got.ScrollWidth > got.InnerWidth {
		t.Errorf("%s: the page is %d px wide on a %d px screen (horizontal scroll)", page, got.ScrollWidth, got.InnerWidth)
	}
	if got.Controls == 0 {
		t.Errorf("%s: no visible controls found", page)
	}
	if len(got.Off) > 0 {
		t.Errorf("%s: %d of %d controls are off screen or too small: %s", page, len(got.Off), got.Controls, strings.Join(got.Off, "; "))
	}
}

// startDashboardOnly runs callscreen serve with only the dashboard (no
// Asterisk needed, so no wait for the shared test Asterisk) on a database
// holding one call, and returns the dashboard's base URL.
func startDashboardOnly(t *testing.T) string {
	t.Helper()
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "callscreen.db")
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	rec := screening.Record{ID: "1764560000.1", Time: time.Now().Add(-time.Minute), Mode: screening.ModeARI,
		Taken: screening.Ring, Outcome: screening.OutcomeRang}
	rec.Facts.Number, rec.Facts.Name, rec.Facts.Called = "0398760099", "Layout Test Clinic With A Long Name", ownNumber
	rec.Verdict = screening.Verdict{CallID: rec.ID, Profile: "default", Presence: screening.Presented, Caller: "+81398760099", Action: screening.Ring}
	w, err := store.NewLogWriter(context.Background(), st, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(rec)
	if err := w.Close(context.Background()); err != nil || w.Written() != 1 {
		t.Fatalf("record not written: %v", err)
	}
	st.Close()
	const listen = "127.0.0.1:18094"
	cfg := filepath.Join(dir, "callscreen.yaml")
	writeFile(t, cfg, "ari:\n  enabled: false\nagi:\n  enabled: false\nhttp:\n  listen: "+listen+
		"\n  dashboard: true\n  username: "+dashboardUser+"\ndatabase: "+db+"\n")
	cmd := exec.Command(filepath.Join(repo, "bin/callscreen"), "serve", "-c", cfg)
	cmd.Env = append(os.Environ(), "CALLSCREEN_HTTP_PASSWORD="+dashboardPassword)
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting bin/callscreen (make build first): %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + listen
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return base
		}
		select {
		case <-done:
			t.Fatalf("callscreen serve exited:\n%s", harness.ReadFile(logPath))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("callscreen serve does not answer on %s:\n%s", listen, harness.ReadFile(logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

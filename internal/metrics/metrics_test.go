package metrics

import (
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/notify"
	"github.com/callscreen/callscreen/screening"
)

type fakeLog struct{ written, dropped, failed, retried uint64 }

func (f fakeLog) Written() uint64 { return f.written }
func (f fakeLog) Dropped() uint64 { return f.dropped }
func (f fakeLog) Failed() uint64  { return f.failed }
func (f fakeLog) Retried() uint64 { return f.retried }

type fakeNotify []notify.DestinationStats

func (f fakeNotify) Destinations() []notify.DestinationStats { return f }

type fakeEngine struct{}

func (fakeEngine) Evaluate(*screening.Facts, string) screening.Verdict { return screening.Verdict{} }

func TestMetricsExposition(t *testing.T) {
	m := New(fakeLog{written: 7, dropped: 1, failed: 2, retried: 6})
	m.WatchNotifications(fakeNotify{{Name: "webhook", Sent: 5, Failed: 3, Dropped: 4}, {Name: "email", Sent: 1}})
	m.SetBuildInfo("1.2.3")
	m.WatchLists(func(k screening.ListKind) int {
		return map[screening.ListKind]int{screening.Allow: 3, screening.Block: 11}[k]
	})
	// Three ARI calls decided, two of them ended (the two Observe below).
	ari := m.CountInFlight(screening.ModeARI, fakeEngine{})
	for range 3 {
		ari.Evaluate(&screening.Facts{}, "")
	}
	rec := screening.Record{
		Mode: screening.ModeARI,
		Verdict: screening.Verdict{Profile: "default", Action: screening.Voicemail, Findings: []screening.Finding{
			{Indicator: "inbound-only", Weight: 60}, {Indicator: "international", Weight: 20},
		}},
		Taken: screening.Voicemail, Outcome: screening.OutcomeVoicemail,
		Decision: 8 * time.Microsecond, Handling: 12 * time.Millisecond,
	}
	m.Observe(&rec)
	m.Observe(&rec)
	m.SetConnected(true)

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Result().Body)
	for _, want := range []string{
		`callscreen_calls_total{action="voicemail",mode="ari",outcome="voicemail",profile="default",taken="voicemail"} 2`,
		`callscreen_indicator_hits_total{indicator="inbound-only"} 2`,
		`callscreen_indicator_hits_total{indicator="international"} 2`,
		`callscreen_decision_seconds_count 2`,
		`callscreen_handling_seconds_count{mode="ari"} 2`,
		`callscreen_ari_connected 1`,
		`callscreen_log_records_written_total 7`,
		`callscreen_log_records_dropped_total 1`,
		`callscreen_log_write_errors_total 2`,
		`callscreen_notifications_sent_total{destination="webhook"} 5`,
		`callscreen_notifications_sent_total{destination="email"} 1`,
		`callscreen_notifications_failed_total{destination="webhook"} 3`,
		`callscreen_notifications_dropped_total{destination="webhook"} 4`,
		`callscreen_build_info{goversion="` + runtime.Version() + `",version="1.2.3"} 1`,
		`callscreen_list_entries{list="allow"} 3`,
		`callscreen_list_entries{list="block"} 11`,
		`callscreen_list_entries{list="dno"} 0`,
		`callscreen_calls_in_flight{mode="ari"} 1`,
		`callscreen_calls_in_flight{mode="agi"} 0`,
		`callscreen_log_write_retries_total 6`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestWatchCounter(t *testing.T) {
	m := New(nil)
	var n uint64 = 7
	m.WatchCounter("agi_sessions_refused_key_total", "test", func() uint64 { return n })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "callscreen_agi_sessions_refused_key_total 7") {
		t.Errorf("metrics lack the counter:\n%s", rec.Body.String())
	}
}

package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

type fakeLog struct{ written, dropped, failed uint64 }

func (f fakeLog) Written() uint64 { return f.written }
func (f fakeLog) Dropped() uint64 { return f.dropped }
func (f fakeLog) Failed() uint64  { return f.failed }

type fakeNotify struct{ sent, failed, dropped uint64 }

func (f fakeNotify) Sent() uint64    { return f.sent }
func (f fakeNotify) Failed() uint64  { return f.failed }
func (f fakeNotify) Dropped() uint64 { return f.dropped }

func TestMetricsExposition(t *testing.T) {
	m := New(fakeLog{written: 7, dropped: 1, failed: 2})
	m.WatchNotifications(fakeNotify{sent: 5, failed: 3, dropped: 4})
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
		`callscreen_notifications_sent_total 5`,
		`callscreen_notifications_failed_total 3`,
		`callscreen_notifications_dropped_total 4`,
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

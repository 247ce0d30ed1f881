package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// The fixture's callscreen posts notifications (notify: in testConfig) to
// a receiver it runs on webhookListen for the whole run.
const (
	webhookListen = "127.0.0.1:18091"
	webhookSecret = "integration-webhook-secret"
)

// hook is one POST the receiver got.
type hook struct {
	at        time.Time
	status    int // what the receiver answered
	event     string
	delivery  string
	signature string
	body      []byte
	payload   hookPayload
}

// hookPayload is the part of the notification payload the tests read.
type hookPayload struct {
	Event    string   `json:"event"`
	Triggers []string `json:"triggers"`
	Delivery string   `json:"delivery"`
	Call     *struct {
		CallID  string   `json:"call_id"`
		Caller  string   `json:"caller"`
		Profile string   `json:"profile"`
		Score   int      `json:"score"`
		Action  string   `json:"action"`
		Taken   string   `json:"taken"`
		Outcome string   `json:"outcome"`
		Reasons []string `json:"reasons"`
		Reason  string   `json:"reason"`
	} `json:"call"`
}

// hookReceiver is the webhook endpoint: it keeps every POST and answers
// 200, or 503 while a caller has failures scripted (failNext).
type hookReceiver struct {
	srv  *http.Server
	mu   sync.Mutex
	got  []hook
	fail map[string]int // caller -> attempts still to refuse
}

func startHookReceiver(addr string) (*hookReceiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &hookReceiver{fail: map[string]int{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return r, nil
}

func (r *hookReceiver) Close() error { return r.srv.Close() }

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	h := hook{at: time.Now(), status: http.StatusOK, event: req.Header.Get("X-Callscreen-Event"),
		delivery: req.Header.Get("X-Callscreen-Delivery"), signature: req.Header.Get("X-Callscreen-Signature"), body: body}
	_ = json.Unmarshal(body, &h.payload)
	r.mu.Lock()
	if c := h.payload.Call; c != nil && r.fail[c.Caller] > 0 {
		r.fail[c.Caller]--
		h.status = http.StatusServiceUnavailable
	}
	r.got = append(r.got, h)
	r.mu.Unlock()
	w.WriteHeader(h.status)
}

// failNext makes the receiver refuse the next n posts about caller (E.164).
func (r *hookReceiver) failNext(caller string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[caller] = n
}

// about returns the posts about caller, in order.
func (r *hookReceiver) about(caller string) []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hook
	for _, h := range r.got {
		if h.payload.Call != nil && h.payload.Call.Caller == caller {
			out = append(out, h)
		}
	}
	return out
}

// webhookSent is the webhook's delivery counter in /metrics.
const webhookSent = `callscreen_notifications_sent_total{destination="webhook"}`

// TestNotifyWebhook: a block-listed caller is rejected and the webhook
// fires; the receiver refuses the first attempt with 503 and the retry
// delivers the same, signed notification. A call that rings notifies
// nobody.
func TestNotifyWebhook(t *testing.T) {
	f := getFixture(t)
	const (
		caller = "0312348877"
		e164   = "+81312348877"
	)
	f.hooks.failNext(e164, 1)
	sentBefore := metricValue(t, webhookSent)
	f.listsChange(t, "add", "block", caller, "--reason", "notify test", "--expires", "7d")
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: 20 * time.Second})
	if !r.Answered || !r.RemoteHangup {
		t.Errorf("want the reject prompt, then hung up: %s", r)
	}
	rec := f.lastRecord(t, e164, start)
	t.Log(rec)
	if rec.Verdict.Action != "reject" {
		t.Fatalf("want a rejected call: %s", rec)
	}

	poll(t, 30*time.Second, func() bool {
		hs := f.hooks.about(e164)
		return len(hs) > 0 && hs[len(hs)-1].status == http.StatusOK
	}, func() string {
		return "no notification about " + e164 + " was delivered; posts: " + describeHooks(f.hooks.about(e164))
	})
	// /metrics counts the delivery (the refused first attempt was retried,
	// not failed).
	poll(t, 5*time.Second, func() bool { return metricValue(t, webhookSent) >= sentBefore+1 },
		func() string {
			return fmt.Sprintf("%s %v, want at least %v", webhookSent, metricValue(t, webhookSent), sentBefore+1)
		})
	hs := f.hooks.about(e164)
	t.Logf("posts about %s: %s", e164, describeHooks(hs))
	if len(hs) != 2 || hs[0].status != http.StatusServiceUnavailable || hs[1].status != http.StatusOK {
		t.Fatalf("want a refused first attempt and a delivered retry, got %s", describeHooks(hs))
	}
	first, retry := hs[0], hs[1]
	if gap := retry.at.Sub(first.at); gap < 400*time.Millisecond || gap > 5*time.Second {
		t.Errorf("retry %s after the first attempt, want the 0.5-1 s backoff", gap)
	}
	if retry.delivery == "" || retry.delivery != first.delivery || string(retry.body) != string(first.body) || retry.payload.Delivery != retry.delivery {
		t.Errorf("the retry is not the same notification: delivery %q vs %q", retry.delivery, first.delivery)
	}
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(retry.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(retry.signature), []byte(want)) {
		t.Errorf("signature %q does not verify (want %q)", retry.signature, want)
	}
	p := retry.payload
	if p.Event != "reject" || retry.event != "reject" || !slices.Contains(p.Triggers, "reject") {
		t.Errorf("event %q (header %q), triggers %v, want reject", p.Event, retry.event, p.Triggers)
	}
	c := p.Call
	if c.Caller != e164 || c.Action != "reject" || c.Taken != "reject" || c.Outcome != "announced" || c.Profile != "default" ||
		!slices.Contains(c.Reasons, "block-list") || c.CallID != rec.ID || c.Score != rec.Verdict.Score {
		t.Errorf("payload call = %+v, want caller %s, action reject, reasons with block-list, call_id %s", *c, e164, rec.ID)
	}

	// An ordinary caller rings: no notification.
	const ringer = "0312345601"
	start = time.Now()
	f.call(t, harness.CallSpec{To: ownNumber, FromUser: ringer, Hold: time.Second})
	f.waitRang(t, ringer, 1)
	if rec := f.lastRecord(t, "+81312345601", start); rec.Outcome != "rang" {
		t.Errorf("want rang: %s", rec)
	}
	time.Sleep(2 * time.Second)
	if hs := f.hooks.about("+81312345601"); len(hs) != 0 {
		t.Errorf("a call that rang was notified: %s", describeHooks(hs))
	}
}

func describeHooks(hs []hook) string {
	var b []byte
	for _, h := range hs {
		b = append(b, h.at.Format("15:04:05.000")...)
		b = append(b, ' ')
		b = append(b, http.StatusText(h.status)...)
		b = append(b, ' ')
		b = append(b, h.body...)
		b = append(b, '\n')
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

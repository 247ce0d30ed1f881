package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// receiver is a webhook endpoint that answers from a script of status
// codes (200 once the script is used up) and keeps what it received.
type receiver struct {
	mu     sync.Mutex
	script []int
	got    []delivery
	gate   chan struct{} // when set, each request waits for a token
}

type delivery struct {
	header  http.Header
	body    []byte
	payload Payload
	status  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.gate != nil {
		<-r.gate
	}
	body, _ := io.ReadAll(req.Body)
	var p Payload
	_ = json.Unmarshal(body, &p)
	r.mu.Lock()
	status := http.StatusOK
	if len(r.script) > 0 {
		status, r.script = r.script[0], r.script[1:]
	}
	r.got = append(r.got, delivery{header: req.Header.Clone(), body: body, payload: p, status: status})
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(url string) Config {
	return Config{
		Webhook:   WebhookConfig{URL: url, Secret: "s3cret", Timeout: 2 * time.Second},
		Events:    []string{EventReject, EventChallengeFailed},
		QueueSize: 10,
	}
}

func newTestNotifier(t *testing.T, cfg Config, opts Options) *Notifier {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 5*time.Millisecond
	}
	n, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closeWait closes n, waiting for every queued delivery.
func closeWait(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func record(id, caller string, action screening.Action, taken screening.Action, outcome screening.Outcome, score int, findings ...screening.Finding) screening.Record {
	return screening.Record{
		ID: id, Time: time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC), Mode: screening.ModeARI,
		Facts:   screening.Facts{ID: id, Number: caller, Name: "Yamada", Called: "0399990000", Trunk: "provider"},
		Verdict: screening.Verdict{CallID: id, Profile: "default", Presence: screening.Presented, Caller: caller, Score: score, Action: action, Enforced: action, Findings: findings, Reason: "test"},
		Taken:   taken, Outcome: outcome,
	}
}

var blockFinding = screening.Finding{Indicator: "block-list", Weight: 100, Evidence: "on the block list"}

func TestNotifyEvents(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rec      screening.Record
		events   []string
		minScore int
		want     []string // triggers; nil: no notification
	}{
		{"reject fires", record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100, blockFinding), []string{"reject", "challenge-failed"}, 0, []string{"reject"}},
		{"drop fires as reject", record("c2", "100", screening.Drop, screening.Drop, screening.OutcomeDropped, 140), []string{"reject"}, 0, []string{"reject"}},
		{"outcome rejected fires", record("c3", "+81312340000", screening.Challenge, screening.Reject, screening.OutcomeRejected, 40), []string{"reject"}, 0, []string{"reject"}},
		{"ring does not fire", record("c4", "+81312345678", screening.Ring, screening.Ring, screening.OutcomeRang, 0), []string{"reject", "challenge-failed"}, 0, nil},
		{"voicemail does not fire", record("c5", "+18775550100", screening.Voicemail, screening.Voicemail, screening.OutcomeVoicemail, 80), []string{"reject", "challenge-failed"}, 0, nil},
		{"challenge failed fires", record("c6", "+12025550124", screening.Challenge, screening.Voicemail, screening.OutcomeChallengeFailed, 20), []string{"reject", "challenge-failed"}, 0, []string{"challenge-failed"}},
		{"challenge failed not wanted", record("c7", "+12025550124", screening.Challenge, screening.Voicemail, screening.OutcomeChallengeFailed, 20), []string{"reject"}, 0, nil},
		{"score crosses min_score", record("c8", "+18775550100", screening.Voicemail, screening.Voicemail, screening.OutcomeVoicemail, 80), []string{"reject"}, 60, []string{"score"}},
		{"score below min_score", record("c9", "+18775550100", screening.Voicemail, screening.Voicemail, screening.OutcomeVoicemail, 50), []string{"reject"}, 60, nil},
		{"reject and score", record("c10", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100, blockFinding), []string{"reject"}, 60, []string{"reject", "score"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			cfg := testConfig(srv.URL)
			cfg.Events, cfg.MinScore = tc.events, tc.minScore
			n := newTestNotifier(t, cfg, Options{})
			n.Notify(tc.rec)
			closeWait(t, n)
			got := rcv.deliveries()
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("want no notification, got %s", got[0].body)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want 1 notification, got %d", len(got))
			}
			p := got[0].payload
			if p.Event != tc.want[0] || !slices.Equal(p.Triggers, tc.want) {
				t.Errorf("event %q triggers %v, want %v", p.Event, p.Triggers, tc.want)
			}
			if p.Call == nil || p.Call.CallID != tc.rec.ID || p.Call.Caller != tc.rec.Verdict.Caller || p.Call.Action != string(tc.rec.Verdict.Action) || p.Call.Outcome != string(tc.rec.Outcome) {
				t.Errorf("call in payload = %+v", p.Call)
			}
			if h := got[0].header; h.Get(EventHeader) != p.Event || h.Get(DeliveryHeader) != p.Delivery || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func TestPayloadEscapesCallerStrings(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, testConfig(srv.URL), Options{})
	rec := record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100, blockFinding)
	rec.Facts.Name = "\"}, \"action\": \"ring\" <script>\r\nX: y"
	n.Notify(rec)
	closeWait(t, n)
	got := rcv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	if got[0].payload.Call.CallerName != rec.Facts.Name || got[0].payload.Call.Action != "reject" {
		t.Errorf("caller name not carried as data: %s", got[0].body)
	}
	if slices.Equal(got[0].payload.Call.Reasons, []string{"block-list"}) == false {
		t.Errorf("reasons %v", got[0].payload.Call.Reasons)
	}
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		script     []int
		wantTries  int
		wantSent   uint64
		wantFailed uint64
	}{
		{"500 then success", []int{500}, 2, 1, 0},
		{"429 and 503 then success", []int{429, 503}, 3, 1, 0},
		{"gives up after 5 attempts", []int{503, 503, 503, 503, 503, 503, 503}, 5, 0, 1},
		{"400 is not retried", []int{400}, 1, 0, 1},
		{"404 is not retried", []int{404}, 1, 0, 1},
		{"redirect is not followed", []int{302}, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{script: tc.script}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			n := newTestNotifier(t, testConfig(srv.URL), Options{Attempts: 5})
			n.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100, blockFinding))
			closeWait(t, n)
			got := rcv.deliveries()
			if len(got) != tc.wantTries {
				t.Fatalf("%d attempts, want %d", len(got), tc.wantTries)
			}
			for _, d := range got[1:] {
				if string(d.body) != string(got[0].body) || d.header.Get(DeliveryHeader) != got[0].header.Get(DeliveryHeader) {
					t.Errorf("a retry changed the body or delivery id")
				}
			}
			if n.Sent() != tc.wantSent || n.Failed() != tc.wantFailed {
				t.Errorf("sent %d failed %d, want %d %d", n.Sent(), n.Failed(), tc.wantSent, tc.wantFailed)
			}
			// The same, counted for the one destination (the metrics' label).
			want := []DestinationStats{{Name: "webhook", Sent: tc.wantSent, Failed: tc.wantFailed}}
			if got := n.Destinations(); !slices.Equal(got, want) {
				t.Errorf("Destinations() = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRetryOnNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	n := newTestNotifier(t, testConfig(url), Options{Attempts: 3})
	n.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
	closeWait(t, n)
	if n.Failed() != 1 || n.Sent() != 0 {
		t.Errorf("sent %d failed %d, want 0 1", n.Sent(), n.Failed())
	}
}

// TestWebhookURLNotLogged: the webhook URL's path and query (often a
// bearer secret) appear in no log line, whatever the failure.
func TestWebhookURLNotLogged(t *testing.T) {
	const secret = "T0KEN-in-the-path"
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	failing := httptest.NewServer(&receiver{script: []int{500, 500}})
	defer failing.Close()
	for name, base := range map[string]string{"connection refused": refusedURL, "404": notFound.URL, "500": failing.URL} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			u := strings.Replace(base, "http://", "http://user:pw-"+secret+"@", 1) + "/hooks/" + secret + "?token=" + secret
			n := newTestNotifier(t, testConfig(u), Options{Attempts: 2, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			n.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
			closeWait(t, n)
			if n.Failed() != 1 {
				t.Fatalf("failed %d, want 1; log:\n%s", n.Failed(), logs.String())
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the webhook URL's secret is in the log:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "http://127.0.0.1") {
				t.Errorf("the log does not name the webhook's host:\n%s", logs.String())
			}
		})
	}
}

// TestRateLimit: a flood of rejected calls becomes RateLimit
// notifications per window and one summary of the rest, per destination.
func TestRateLimit(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := startFakeSMTP(t)
	cfg := testConfig(srv.URL)
	cfg.Email = emailConfig(s.addr).Email
	cfg.RateLimit, cfg.RateWindow = 3, 10*time.Minute
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	n := newTestNotifier(t, cfg, Options{Now: clock})
	flood := func(k int) {
		for i := range k {
			caller := "+81312348899"
			if i%4 == 0 {
				caller = "+81312340000"
			}
			n.Notify(record(fmt.Sprintf("c%d", i), caller, screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
		}
	}
	flood(20)
	mu.Lock()
	now = now.Add(11 * time.Minute) // a new window: the summary goes first
	mu.Unlock()
	flood(1)
	closeWait(t, n)

	got := rcv.deliveries()
	var events []string
	for _, d := range got {
		events = append(events, d.payload.Event)
	}
	want := []string{"reject", "reject", "reject", "suppressed", "reject"}
	if !slices.Equal(events, want) {
		t.Fatalf("webhook got %v, want %v", events, want)
	}
	sp := got[3].payload.Suppressed
	if sp == nil || sp.Count != 17 || sp.Events["reject"] != 17 || len(sp.Callers) != 2 || sp.Callers[0].Name != "+81312348899" || sp.Callers[0].Calls != 13 || sp.Callers[1].Calls != 4 {
		t.Errorf("summary %+v", sp)
	}
	if msgs := s.messages(); len(msgs) != 5 || !strings.Contains(msgs[3], "17 more notifications not sent") {
		t.Errorf("mail: %d messages, want 5 with the summary fourth", len(msgs))
	}
}

func TestBackoff(t *testing.T) {
	n := &Notifier{opts: Options{MinBackoff: time.Second, MaxBackoff: 60 * time.Second}}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: 60 * time.Second, 20: 60 * time.Second} {
		for range 50 {
			if got := n.backoff(attempt); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, got, want/2, want)
			}
		}
	}
}

func TestSignature(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, testConfig(srv.URL), Options{})
	n.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
	closeWait(t, n)
	got := rcv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	sig := got[0].header.Get(SignatureHeader)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature header %q", sig)
	}
	for _, tc := range []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"valid", "s3cret", got[0].body, sig, true},
		{"wrong secret", "other", got[0].body, sig, false},
		{"altered body", "s3cret", append(slices.Clone(got[0].body), ' '), sig, false},
		{"no prefix", "s3cret", got[0].body, strings.TrimPrefix(sig, "sha256="), false},
		{"not hex", "s3cret", got[0].body, "sha256=zz", false},
	} {
		if ok := Verify([]byte(tc.secret), tc.body, tc.sig); ok != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, ok, tc.want)
		}
	}
	// Without a secret there is no signature header.
	rcv2 := &receiver{}
	srv2 := httptest.NewServer(rcv2)
	defer srv2.Close()
	cfg := testConfig(srv2.URL)
	cfg.Webhook.Secret = ""
	n2 := newTestNotifier(t, cfg, Options{})
	n2.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
	closeWait(t, n2)
	if d := rcv2.deliveries(); len(d) != 1 || d[0].header.Get(SignatureHeader) != "" {
		t.Errorf("unsigned delivery: %+v", d)
	}
}

func TestQueueFullDrops(t *testing.T) {
	rcv := &receiver{gate: make(chan struct{})}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.QueueSize = 2
	n := newTestNotifier(t, cfg, Options{})
	rec := record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100)
	n.Notify(rec) // taken by the worker, which then waits at the gate
	waitFor(t, func() bool { return len(n.dests[0].ch) == 0 })
	start := time.Now()
	for range 5 {
		n.Notify(rec) // 2 queued, 3 dropped
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Notify blocked for %s with a full queue", d)
	}
	if n.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", n.Dropped())
	}
	close(rcv.gate)
	closeWait(t, n)
	if got := len(rcv.deliveries()); got != 3 || n.Sent() != 3 {
		t.Errorf("%d delivered (sent %d), want 3", got, n.Sent())
	}
	n.Notify(rec) // after Close: dropped, no panic
	if n.Dropped() != 4 {
		t.Errorf("dropped %d after Close, want 4", n.Dropped())
	}
}

func TestCloseAbandonsAfterDeadline(t *testing.T) {
	rcv := &receiver{script: []int{503, 503, 503, 503, 503}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, testConfig(srv.URL), Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	n.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
	waitFor(t, func() bool { return len(rcv.deliveries()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Close(ctx); err == nil {
		t.Error("Close returned nil with a delivery waiting an hour to retry")
	}
	if n.Failed() != 1 {
		t.Errorf("failed %d, want 1", n.Failed())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// ---- email ------------------------------------------------------------------------

// fakeSMTP is a tiny SMTP server: it offers AUTH PLAIN (no STARTTLS),
// answers each RCPT from a script (250 when used up) and keeps each
// message.
type fakeSMTP struct {
	addr string
	mu   sync.Mutex
	rcpt []string // scripted replies to RCPT, e.g. "451 try later"
	auth []string // decoded AUTH PLAIN responses
	from []string
	to   [][]string
	data []string
}

func startFakeSMTP(t *testing.T, rcptScript ...string) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{addr: ln.Addr().String(), rcpt: rcptScript}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(l string) { io.WriteString(c, l+"\r\n") }
	say("220 fake ESMTP")
	var to []string
	from := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250-fake")
			say("250 AUTH PLAIN")
		case "AUTH":
			f := strings.Fields(line)
			dec, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			s.mu.Lock()
			s.auth = append(s.auth, string(dec))
			s.mu.Unlock()
			say("235 2.7.0 ok")
		case "MAIL":
			from = line
			say("250 ok")
		case "RCPT":
			s.mu.Lock()
			reply := "250 ok"
			if len(s.rcpt) > 0 {
				reply, s.rcpt = s.rcpt[0], s.rcpt[1:]
			}
			s.mu.Unlock()
			if strings.HasPrefix(reply, "250") {
				to = append(to, line)
			}
			say(reply)
		case "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.from, s.to, s.data = append(s.from, from), append(s.to, to), append(s.data, b.String())
			s.mu.Unlock()
			say("250 queued")
		case "RSET", "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func (s *fakeSMTP) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.data)
}

func emailConfig(addr string) Config {
	return Config{
		Email: EmailConfig{
			SMTP: addr, From: "callscreen <pbx@example.com>", To: []string{"Owner <owner@example.com>", "desk@example.com"},
			Username: "pbx", Password: "pw",
		},
		Webhook:   WebhookConfig{Timeout: time.Second},
		Events:    []string{EventReject},
		QueueSize: 10,
	}
}

func TestEmail(t *testing.T) {
	s := startFakeSMTP(t)
	n := newTestNotifier(t, emailConfig(s.addr), Options{})
	rec := record("1700000000.42", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100, blockFinding)
	// A display name trying to add a header.
	rec.Facts.Name = "Evil\r\nBcc: victim@example.net\r\n\r\nbody"
	n.Notify(rec)
	closeWait(t, n)
	msgs := s.messages()
	if len(msgs) != 1 || n.Sent() != 1 {
		t.Fatalf("%d messages (sent %d), want 1", len(msgs), n.Sent())
	}
	head, body, _ := strings.Cut(msgs[0], "\r\n\r\n")
	var subject string
	for _, l := range strings.Split(head, "\r\n") {
		name, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(name, "Bcc") {
			t.Errorf("header injection: %q", l)
		}
		if name == "Subject" {
			subject = strings.TrimSpace(v)
		}
	}
	if !strings.Contains(subject, "rejected call from +81312348899") || !strings.Contains(subject, "Evil Bcc: victim@example.net body") || !strings.Contains(subject, "block-list") {
		t.Errorf("subject %q", subject)
	}
	if !strings.Contains(body, "1700000000.42") || !strings.Contains(body, "Caller:") {
		t.Errorf("body lacks the call:\n%s", body)
	}
	if len(s.auth) != 1 || s.auth[0] != "\x00pbx\x00pw" {
		t.Errorf("AUTH PLAIN got %q", s.auth)
	}
	if got := s.to[0]; len(got) != 2 || !strings.Contains(got[0], "<owner@example.com>") || !strings.Contains(got[1], "<desk@example.com>") {
		t.Errorf("RCPT %q", got)
	}
	if !strings.Contains(s.from[0], "<pbx@example.com>") {
		t.Errorf("MAIL %q", s.from[0])
	}
}

// TestEmailNoBidi: bidirectional controls in any caller-controlled value
// reach neither the subject nor the body.
func TestEmailNoBidi(t *testing.T) {
	e := &email{cfg: emailConfig("127.0.0.1:25").Email, loc: time.UTC, now: time.Now}
	rec := record("1700000000.43", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100,
		screening.Finding{Indicator: "brand-display", Weight: 40, Evidence: "name \u202eAMAZON\u202c"})
	rec.Facts.Name = "\u202e\u2066moc.nozama\u2069"
	rec.Detail = "detail \u2067x"
	from, _ := mail.ParseAddress("pbx@example.com")
	msg, err := mail.ReadMessage(bytes.NewReader(e.compose(&message{payload: Payload{Event: EventReject, Delivery: "d1", Call: newCall(&rec)}}, from, []*mail.Address{from})))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	for _, s := range []string{subject, body} {
		if i := strings.IndexFunc(s, func(r rune) bool { return r >= '\u2066' && r <= '\u2069' || r >= '\u202a' && r <= '\u202e' }); i >= 0 {
			t.Errorf("bidi control at %d in %q", i, s)
		}
	}
	if !strings.Contains(subject, "moc.nozama") || !strings.Contains(body, "AMAZON") {
		t.Errorf("the text itself must stay: subject %q body %q", subject, body)
	}
}

func TestEmailRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		script     []string
		wantSent   uint64
		wantFailed uint64
	}{
		{"4xx is retried", []string{"451 4.3.0 try later"}, 1, 0},
		{"5xx is permanent", []string{"550 5.1.1 no such user"}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFakeSMTP(t, tc.script...)
			cfg := emailConfig(s.addr)
			cfg.Email.To = cfg.Email.To[:1]
			n := newTestNotifier(t, cfg, Options{})
			n.Notify(record("c1", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100))
			closeWait(t, n)
			if n.Sent() != tc.wantSent || n.Failed() != tc.wantFailed || len(s.messages()) != int(tc.wantSent) {
				t.Errorf("sent %d failed %d messages %d", n.Sent(), n.Failed(), len(s.messages()))
			}
		})
	}
}

func TestHeaderText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                    "plain",
		"a\r\nBcc: x":              "a Bcc: x",
		"tab\there":                "tab here",
		"line\u2028sep":            "line sep",
		"nul\x00byte":              "nul byte",
		"公衆電話":                     "公衆電話",
		strings.Repeat("x", 300):   strings.Repeat("x", 179) + "…",
		"  spaced\n\n  out  ":      "spaced out",
		"bad utf8 \xff\xfe end":    "bad utf8 end",
		"esc \x1b[31mred\x1b[0m":   "esc [31mred [0m",
		"del\x7fchar":              "del char",
		"c1 control \u0085 here":   "c1 control here",
		"rlo \u202egnp.exe":        "rlo gnp.exe",
		"isolate \u2066x\u2069":    "isolate x",
		"marks \u200e\u200f\u061c": "marks",
		"zero\u200bwidth\ufeff":    "zero width",
	} {
		if got := headerText(in, 180); got != want {
			t.Errorf("headerText(%q) = %q, want %q", in, got, want)
		}
	}
}

// ---- digest -----------------------------------------------------------------------

type fakeLog struct {
	sum     store.Summary
	records []screening.Record
}

func (f *fakeLog) Summary(ctx context.Context, since, until time.Time) (store.Summary, error) {
	return f.sum, nil
}

func (f *fakeLog) Records(ctx context.Context, fl store.RecordFilter) ([]screening.Record, error) {
	var out []screening.Record
	for _, r := range f.records {
		if (fl.Action == "" || r.Verdict.Action == fl.Action) && (fl.Outcome == "" || r.Outcome == fl.Outcome) {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestDigest(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	log := &fakeLog{
		sum: store.Summary{
			Calls:      7,
			ByAction:   map[screening.Action]int{screening.Ring: 3, screening.Reject: 3, screening.Drop: 1},
			ByOutcome:  map[screening.Outcome]int{screening.OutcomeRang: 3, screening.OutcomeAnnounced: 3, screening.OutcomeDropped: 1},
			Indicators: []store.IndicatorCount{{Name: "block-list", Calls: 3}, {Name: "scanner-agent", Calls: 1}},
		},
		records: []screening.Record{
			record("a", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100),
			record("b", "+81312348899", screening.Reject, screening.Reject, screening.OutcomeAnnounced, 100),
			record("c", "+81312340001", screening.Reject, screening.Reject, screening.OutcomeRejected, 100),
			record("d", "100", screening.Drop, screening.Drop, screening.OutcomeDropped, 140),
		},
	}
	cfg := testConfig(srv.URL)
	cfg.Digest = DigestConfig{At: "18:00", Timezone: "Asia/Tokyo"}
	n := newTestNotifier(t, cfg, Options{CallLog: log})
	until := time.Date(2025, 11, 23, 18, 0, 0, 0, n.loc)
	digest, err := n.buildDigest(context.Background(), until.AddDate(0, 0, -1), until)
	if err != nil {
		t.Fatal(err)
	}
	n.enqueue(Payload{Event: EventDigest, Digest: digest})
	closeWait(t, n)
	got := rcv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	p := got[0].payload
	if p.Event != EventDigest || p.Digest == nil || p.Call != nil {
		t.Fatalf("payload %s", got[0].body)
	}
	d := p.Digest
	wantRejected := []Count{{"+81312348899", 2}, {"+81312340001", 1}, {"100", 1}}
	if d.Calls != 7 || d.Actions["reject"] != 3 || d.Outcomes["dropped"] != 1 || d.Timezone != "Asia/Tokyo" ||
		!slices.Equal(d.TopIndicators, []Count{{"block-list", 3}, {"scanner-agent", 1}}) || !slices.Equal(d.Rejected, wantRejected) {
		t.Errorf("digest = %+v", d)
	}
}

func TestNextAt(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now  time.Time
		loc  *time.Location
		want time.Time
	}{
		{time.Date(2025, 11, 23, 9, 0, 0, 0, tokyo), tokyo, time.Date(2025, 11, 23, 18, 0, 0, 0, tokyo)},
		{time.Date(2025, 11, 23, 18, 0, 0, 0, tokyo), tokyo, time.Date(2025, 11, 24, 18, 0, 0, 0, tokyo)},
		{time.Date(2025, 11, 23, 23, 0, 0, 0, tokyo), tokyo, time.Date(2025, 11, 24, 18, 0, 0, 0, tokyo)},
		// 10:00 UTC is 19:00 in Tokyo: the next digest is tomorrow's.
		{time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC), tokyo, time.Date(2025, 11, 24, 18, 0, 0, 0, tokyo)},
		// Across the end of daylight saving time: still 18:00 local.
		{time.Date(2025, 11, 1, 19, 0, 0, 0, ny), ny, time.Date(2025, 11, 2, 18, 0, 0, 0, ny)},
	} {
		if got := nextAt(tc.now, 18, 0, tc.loc); !got.Equal(tc.want) {
			t.Errorf("nextAt(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func() Config {
		return Config{Webhook: WebhookConfig{Timeout: 10 * time.Second}, Events: []string{"reject"}, QueueSize: 100, Digest: DigestConfig{Timezone: "Local"}}
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"webhook", func(c *Config) { c.Webhook.URL = "https://hooks.example.com/x" }, ""},
		{"webhook not http", func(c *Config) { c.Webhook.URL = "ftp://x" }, "notify.webhook.url"},
		{"timeout", func(c *Config) { c.Webhook.Timeout = 0 }, "notify.webhook.timeout"},
		{"email", func(c *Config) {
			c.Email = EmailConfig{SMTP: "smtp.example.com:587", From: "pbx@example.com", To: []string{"a@example.com"}}
		}, ""},
		{"email without to", func(c *Config) { c.Email = EmailConfig{SMTP: "smtp.example.com:587", From: "pbx@example.com"} }, "notify.email.to"},
		{"email bad from", func(c *Config) {
			c.Email = EmailConfig{SMTP: "smtp.example.com:587", From: "pbx@example.com\r\nBcc: x@y", To: []string{"a@example.com"}}
		}, "notify.email.from"},
		{"email no port", func(c *Config) { c.Email = EmailConfig{SMTP: "smtp.example.com", From: "a@b.c", To: []string{"a@b.c"}} }, "notify.email.smtp"},
		{"unknown event", func(c *Config) { c.Events = []string{"ring"} }, "notify.events"},
		{"negative score", func(c *Config) { c.MinScore = -1 }, "notify.min_score"},
		{"digest without destination", func(c *Config) { c.Digest.At = "18:00" }, "notify.digest.at"},
		{"digest bad time", func(c *Config) { c.Webhook.URL = "http://127.0.0.1/x"; c.Digest.At = "6pm" }, "notify.digest.at"},
		{"digest 24:00", func(c *Config) { c.Webhook.URL = "http://127.0.0.1/x"; c.Digest.At = "24:00" }, "notify.digest.at"},
		{"digest zone", func(c *Config) {
			c.Webhook.URL = "http://127.0.0.1/x"
			c.Digest.At = "7:30"
			c.Digest.Timezone = "Asia/Tokyo"
		}, ""},
		{"bad zone", func(c *Config) { c.Digest.Timezone = "Mars/Olympus" }, "notify.digest.timezone"},
		{"queue", func(c *Config) { c.QueueSize = 0 }, "notify.queue_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

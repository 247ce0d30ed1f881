package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParseTrace checks the sipp trace parser on a fixed sample; it needs
// no Asterisk.
func TestParseTrace(t *testing.T) {
	trace := `----------------------------------------------- 2025-11-23 02:10:00.000000
UDP message received [420] bytes :

INVITE sip:desk@127.0.0.10:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKPj1
From: "Ann" <sip:0312345678@127.0.0.1>;tag=abc
To: <sip:desk@127.0.0.10>
Call-ID: c1
CSeq: 100 INVITE
Content-Length: 0


----------------------------------------------- 2025-11-23 02:10:00.000100
UDP message sent (300 bytes):

SIP/2.0 180 Ringing
CSeq: 100 INVITE

`
	msgs := parseTrace(trace)
	if len(msgs) != 2 {
		t.Fatalf("parsed %d messages, want 2: %+v", len(msgs), msgs)
	}
	if m := msgs[0]; !m.Received || m.method() != "INVITE" || uriUser(m.header("From", "f")) != "0312345678" || m.header("Call-ID") != "c1" {
		t.Errorf("first message parsed wrongly: %+v", m)
	}
	if m := msgs[1]; !m.Sent || m.status() != 180 || m.cseqMethod() != "INVITE" {
		t.Errorf("second message parsed wrongly: %+v", m)
	}
	for in, want := range map[string]string{
		`"A" <sip:100@h>;tag=x`:                   "100",
		`<sip:anonymous@anonymous.invalid>;tag=1`: "anonymous",
		`sip:+81312345678@h;user=phone`:           "+81312345678",
		`<tel:+81312345678>`:                      "+81312345678",
	} {
		if got := uriUser(in); got != want {
			t.Errorf("uriUser(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAsteriskEndToEnd starts the real Asterisk and the desk phone and
// places real SIP calls. Run with CALLSCREEN_INTEGRATION=1 (or CI=true) as root.
func TestAsteriskEndToEnd(t *testing.T) {
	if os.Getenv("CALLSCREEN_INTEGRATION") != "1" && os.Getenv("CI") != "true" {
		t.Skip("set CALLSCREEN_INTEGRATION=1 (as root) to run against a real Asterisk")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	t0 := time.Now()
	ast, err := StartAsterisk(ctx, AsteriskOptions{
		Log: testWriter{t},
		// An extra DID that reads two digits, to prove DTMF gets through.
		Append: map[string]string{"extensions.conf": `
[from-provider]
exten => 0399990099,1,Answer()
 same => n,Read(DIGITS,,2,,,6)
 same => n,Log(NOTICE,harness-dtmf [${DIGITS}] from ${CALLERID(num)})
 same => n,Hangup()
exten => 0399990098,1,Answer()
 same => n,Set(CHANNEL(language)=ja)
 same => n,Playback(callscreen/callscreen-recording-notice)
 same => n,SayDigits(7)
 same => n,Set(CHANNEL(language)=en)
 same => n,Playback(callscreen/callscreen-recording-notice)
 same => n,Hangup()
`},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Asterisk up in %s", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("full.log (tail):\n%s", TailLines(ast.FullLog(), 60))
		}
		if err := ast.Stop(); err != nil {
			t.Error(err)
		}
	})
	desk, err := StartDeskPhone(ctx, DeskPhoneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := desk.Stop(); err != nil {
			t.Error(err)
		}
	})

	t.Run("dialplan patterns cover DIDs, E.164 and s", func(t *testing.T) {
		for _, q := range []string{"0312345678@callscreen-inbound", "+81312345678@from-provider", "s@from-provider", "s@callscreen-ring", "+81312345678@callscreen-voicemail"} {
			out, err := ast.CLI(ctx, "dialplan show "+q)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "_[+0-9s]!") {
				t.Errorf("dialplan show %s:\n%s", q, out)
			}
		}
		out, err := ast.CLI(ctx, "dialplan show h@from-provider")
		if err == nil && strings.Contains(out, "_[+0-9s]!") {
			t.Errorf("the catch-all pattern also matches h:\n%s", out)
		}
	})

	t.Run("baseline rings the desk", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDBaseline, FromUser: "0311110001", FromName: "Baseline", Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered {
			t.Errorf("not answered: %s\n%s", r, r.Log)
		}
		if !desk.Rang("0311110001") {
			t.Errorf("desk phone did not ring; it saw %+v", desk.InviteLog())
		}
	})

	t.Run("unknown source is refused by PJSIP", func(t *testing.T) {
		before := desk.Invites()
		r, err := PlaceCall(ctx, CallSpec{Source: UnknownAddr, To: DIDBaseline, FromUser: "0311110002"})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if r.Final != 401 && r.Final != 403 && r.Final != 404 {
			t.Errorf("final %d, want 401/403/404: %s", r.Final, r)
		}
		if r.Answered || desk.Invites() != before || desk.Rang("0311110002") {
			t.Errorf("a call from an unknown source reached the desk phone")
		}
	})

	t.Run("no Stasis app: callscreen-inbound fails open", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: "0312340000", FromUser: "0311110003", Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !desk.Rang("0311110003") {
			t.Errorf("fail-open did not ring the desk: %s; desk saw %+v", r, desk.InviteLog())
		}
		if log := ast.FullLog(); !strings.Contains(log, "callscreen is not running") {
			t.Errorf("no fail-open warning in full.log")
		}
	})

	t.Run("stranger via public endpoint fails open too", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: StrangerAddr, To: "0312340000", FromUser: "100", Headers: []string{"User-Agent: friendly-scanner"}, Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !desk.Rang("100") {
			t.Errorf("public call did not ring the desk: %s", r)
		}
	})

	t.Run("no FastAGI server: callscreen-agi fails open", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDAGI, FromUser: "0311110007", Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !desk.Rang("0311110007") {
			t.Errorf("FastAGI fail-open did not ring the desk: %s", r)
		}
	})

	t.Run("FastAGI verdicts route the call", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			vars   map[string]string
			final  int
			rings  bool
			caller string
		}{
			{"ring", map[string]string{"SCREEN_ACTION": "ring"}, 200, true, "0311110021"},
			{"reject", map[string]string{"SCREEN_ACTION": "reject"}, 403, false, "0311110022"},
			{"number-request", map[string]string{"SCREEN_ACTION": "number-request"}, 0, false, "0311110023"},
			{"custom context", map[string]string{"SCREEN_ACTION": "ring", "SCREEN_CONTEXT": "callscreen-reject"}, 403, false, "0311110024"},
			{"missing custom context fails open", map[string]string{"SCREEN_CONTEXT": "no-such-context"}, 200, true, "0311110025"},
			{"unknown action fails open", map[string]string{"SCREEN_ACTION": "bogus"}, 200, true, "0311110026"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stop := fakeAGI(t, tc.vars)
				defer stop()
				r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDAGI, FromUser: tc.caller, Hold: time.Second})
				if err != nil {
					t.Fatalf("%v\n%s", err, r.Log)
				}
				t.Log(r)
				// number-request: the AGI server would play the prompt after
				// answering; this fake does not answer, so the hang-up
				// arrives as a final error response.
				if (tc.final != 0 && r.Final != tc.final) || (tc.final == 0 && r.Answered) || desk.Rang(tc.caller) != tc.rings {
					t.Errorf("%s: want final %d, rings %v", r, tc.final, tc.rings)
				}
			})
		}
	})

	t.Run("withheld number arrives as anonymous", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDRing, FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid",
			Headers: []string{"P-Asserted-Identity: <sip:0311110008@127.0.0.2>", "Privacy: id"}, Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		// trust_id_inbound=no: Asterisk passes the From user on, not the PAI.
		if !r.Answered || !desk.Rang("anonymous") || desk.Rang("0311110008") {
			t.Errorf("%s; desk saw %+v", r, desk.InviteLog())
		}
	})

	t.Run("reject context refuses", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDReject, FromUser: "0311110005"})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if r.Final != 403 || desk.Rang("0311110005") {
			t.Errorf("reject: %s, want 403 and no ring", r)
		}
	})

	t.Run("DTMF reaches the dialplan", func(t *testing.T) {
		for _, digits := range []string{"47", "55"} {
			r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: "0399990099", FromUser: "0311110006", DTMF: digits, Hold: 10 * time.Second})
			if err != nil {
				t.Fatalf("%v\n%s", err, r.Log)
			}
			t.Log(r)
			want := "harness-dtmf [" + digits + "] from 0311110006"
			if !r.Answered || !r.RemoteHangup || !strings.Contains(ast.FullLog(), want) {
				t.Errorf("%s: want %q in full.log", r, want)
			}
		}
	})

	t.Run("callscreen prompts play in en and ja", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: "0399990098", FromUser: "0311110010", Hold: 15 * time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		// Asterisk logs the format, not the extension: 'x.slin' for a wav.
		log := ast.FullLog()
		for _, want := range []string{
			`Playing 'callscreen/callscreen-recording-notice\.\w+' \(language 'ja'\)`,
			`Playing 'digits/7\.\w+' \(language 'ja'\)`,
			`Playing 'callscreen/callscreen-recording-notice\.\w+' \(language 'en'\)`,
		} {
			if !regexp.MustCompile(want).MatchString(log) {
				t.Errorf("full.log lacks %q", want)
			}
		}
		if !r.RemoteHangup {
			t.Errorf("prompt DID did not hang up: %s", r)
		}
	})

	t.Run("voicemail keeps a message", func(t *testing.T) {
		before := ast.VoicemailCount("100")
		// The unavailable greeting and instructions take about 13 s before
		// the beep; speech plays throughout, so about 7 s are recorded.
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDVoicemail, FromUser: "0311110004", Audio: true, Hold: 20 * time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered {
			t.Fatalf("voicemail did not answer: %s", r)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := ast.WaitVoicemail(wctx, "100", before+1); err != nil {
			t.Error(err)
		}
		if desk.Rang("0311110004") {
			t.Errorf("voicemail DID rang the desk")
		}
	})

	t.Run("restart", func(t *testing.T) {
		n := ast.VoicemailCount("100")
		if err := ast.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if got := ast.VoicemailCount("100"); got != n {
			t.Errorf("Restart changed the voicemail count from %d to %d", n, got)
		}
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDBaseline, FromUser: "0311110031", Hold: 500 * time.Millisecond})
		if err != nil || !r.Answered || !desk.Rang("0311110031") {
			t.Errorf("call after restart: %v %s", err, r)
		}
	})

	t.Run("desk phone that hangs up", func(t *testing.T) {
		if err := desk.Stop(); err != nil {
			t.Fatal(err)
		}
		d2, err := StartDeskPhone(ctx, DeskPhoneOptions{RingFor: 300 * time.Millisecond, HangupAfter: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer d2.Stop()
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDBaseline, FromUser: "0311110009", Hold: 20 * time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !r.RemoteHangup || r.Duration > 15*time.Second || !d2.Rang("0311110009") {
			t.Errorf("want answered, remote hang-up within 15 s: %s\n%s", r, d2.Trace())
		}
		// The never-answering variant's scenario must load too.
		d3, err := StartDeskPhone(ctx, DeskPhoneOptions{Addr: "127.0.0.11", NoAnswer: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := d3.Stop(); err != nil {
			t.Error(err)
		}
	})
}

// fakeAGI serves FastAGI on 127.0.0.1:4573: it reads the AGI environment,
// sets the given channel variables and ends the session.
func fakeAGI(t *testing.T, vars map[string]string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:4573")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for {
				l, err := br.ReadString('\n')
				if err != nil || strings.TrimSpace(l) == "" {
					break
				}
			}
			for k, v := range vars {
				fmt.Fprintf(c, "SET VARIABLE %s \"%s\"\n", k, v)
				if _, err := br.ReadString('\n'); err != nil {
					break
				}
			}
			c.Close()
		}
	}()
	return func() { ln.Close(); wg.Wait() }
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

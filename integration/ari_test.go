package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// The tests below screen real SIP calls in ARI mode: sipp calls from the
// provider (127.0.0.2) or a stranger (127.0.0.3) enter [callscreen-inbound]
// and Stasis(callscreen); callscreen serve decides and routes. They run in
// file order and share one Asterisk, desk phone and serve; the tests that
// stop Asterisk or callscreen come last and leave both running again.

// numberRequestPrompt and rejectPrompt match Asterisk's "Playing" lines
// for the two announcements.
const (
	numberRequestPrompt = `Playing 'callscreen/callscreen-number-request\.\w+' \(language 'en'\)`
	rejectPrompt        = `Playing 'callscreen/callscreen-reject\.\w+' \(language 'en'\)`
	pressDigitPrompt    = `Playing 'callscreen/callscreen-press-digit\.\w+' \(language 'en'\)`
)

// TestARIEventFilter: callscreen asks Asterisk to send its application only
// the events it handles, so that the ChannelVarset and ChannelDialplan
// chatter of every screened call is neither serialised nor decoded. The
// other ARI tests prove nothing callscreen needs was filtered out (the
// challenge's DTMF, playbacks, name recordings, hang-ups).
func TestARIEventFilter(t *testing.T) {
	f := getFixture(t)
	var app struct {
		Name       string                  `json:"name"`
		Allowed    []struct{ Type string } `json:"events_allowed"`
		Disallowed []struct{ Type string } `json:"events_disallowed"`
	}
	var types []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1:8088/ari/applications/callscreen", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("callscreen", f.ast.ARIPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&app)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET /ari/applications/callscreen: %s: %v", resp.Status, err)
		}
		types = types[:0]
		for _, a := range app.Allowed {
			types = append(types, a.Type)
		}
		if len(types) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("Asterisk sends application %q only: %v", app.Name, types)
	for _, need := range []string{"StasisStart", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed", "ChannelDtmfReceived", "PlaybackFinished", "RecordingFinished"} {
		if !slices.Contains(types, need) {
			t.Errorf("events_allowed %v lacks %s", types, need)
		}
	}
	if slices.Contains(types, "ChannelVarset") || len(types) == 0 {
		t.Errorf("events_allowed = %v: the filter is not in place", types)
	}
}

// TestWithheldNumberRequest: a withheld caller is answered, hears the
// Number Request announcement (about 6.7 s) and is hung up on; the desk
// never rings.
func TestWithheldNumberRequest(t *testing.T) {
	f := getFixture(t)
	for _, tc := range []struct {
		name string
		spec harness.CallSpec
		// match picks this call's record.
		match func(record) bool
	}{
		{
			name: "anonymous From",
			spec: harness.CallSpec{To: ownNumber, FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid"},
			match: func(r record) bool {
				return r.Facts.Number == "anonymous"
			},
		},
		{
			name: "Privacy id with a real P-Asserted-Identity",
			spec: harness.CallSpec{To: ownNumber, FromUser: "0312340077",
				Headers: []string{"P-Asserted-Identity: <sip:0312340077@127.0.0.2;user=phone>", "Privacy: id"}},
			match: func(r record) bool {
				return r.Facts.Number == "0312340077"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Hold = 30 * time.Second // the announcement hangs up first
			invites, prompts := f.desk.Invites(), f.countLog(numberRequestPrompt)
			start := time.Now()
			r := f.call(t, spec)
			if !r.Answered || !r.RemoteHangup {
				t.Errorf("want answered and hung up by Asterisk: %s", r)
			}
			// The announcement is 6.7 s long; a hang-up much sooner means
			// it did not play, much later that nobody hung up.
			if r.Duration < 5*time.Second || r.Duration > 25*time.Second {
				t.Errorf("call lasted %s, want about the announcement's 6.7 s", r.Duration)
			}
			if n := f.desk.Invites(); n != invites {
				t.Errorf("the desk phone rang for a withheld call (%d calls, %d before)", n, invites)
			}
			if n := f.countLog(numberRequestPrompt); n != prompts+1 {
				t.Errorf("full.log shows the number-request prompt played %d times, want once", n-prompts)
			}
			rec := f.waitRecord(t, "", start, tc.match)
			t.Log(rec)
			if rec.Verdict.Presence != "withheld" || rec.Verdict.Action != "number-request" || rec.Taken != "number-request" || rec.Outcome != "announced" {
				t.Errorf("want presence withheld, action/taken number-request, outcome announced: %s", rec)
			}
			if v := f.screenVars(rec.ID); len(v) != 0 {
				t.Errorf("a withheld call entered a routing context: %+v", v)
			}
		})
	}
}

// TestDomesticRings: an ordinary domestic caller rings the desk with no
// findings.
func TestDomesticRings(t *testing.T) {
	f := getFixture(t)
	const caller = "0312345678"
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, FromName: "Yamada Shoten", Hold: time.Second})
	if !r.Answered {
		t.Errorf("not answered: %s", r)
	}
	f.waitRang(t, caller, 1)
	rec := f.lastRecord(t, "+81312345678", start)
	t.Log(rec)
	if rec.Verdict.Action != "ring" || rec.Taken != "ring" || rec.Outcome != "rang" || rec.Verdict.Score != 0 || len(rec.Verdict.Findings) != 0 {
		t.Errorf("want ring/rang with no findings: %s", rec)
	}
	if rec.Verdict.Profile != "default" || rec.Facts.Trunk != "provider" || rec.Mode != "ari" {
		t.Errorf("want profile default, trunk provider, mode ari: %s (trunk %q, mode %q)", rec, rec.Facts.Trunk, rec.Mode)
	}
	v := f.waitScreenVars(t, rec.ID, "callscreen-ring")
	if v.Action != "ring" || v.Score != "0" || v.Reasons != "" {
		t.Errorf("channel variables in callscreen-ring: %+v, want action=ring score=0 reasons=", v)
	}
}

// TestAllowListOverride: a caller that scores 80 (toll-free, international)
// rings once the operator allow-lists it while serve runs.
func TestAllowListOverride(t *testing.T) {
	f := getFixture(t)
	const caller = "+18775550123"
	f.listsChange(t, "add", "allow", caller, "--reason", "pharmacy callback line")
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: time.Second})
	if !r.Answered {
		t.Errorf("not answered: %s", r)
	}
	f.waitRang(t, caller, 1)
	rec := f.lastRecord(t, caller, start)
	t.Log(rec)
	if rec.Verdict.Action != "ring" || rec.Outcome != "rang" || rec.Verdict.Override == "" {
		t.Errorf("want ring/rang with an override: %s", rec)
	}
	// Entries without an expiry keep only the number in memory (see
	// screening/INDICATORS.md), so the override names the list and number.
	if !strings.Contains(rec.Verdict.Override, "allow list "+caller) {
		t.Errorf("override %q does not name the allow entry", rec.Verdict.Override)
	}
	for _, ind := range []string{"inbound-only", "international"} {
		if !slices.Contains(rec.indicators(), ind) {
			t.Errorf("indicator %s did not fire (allow-listing must not hide the evidence): %s", ind, rec)
		}
	}
	v := f.waitScreenVars(t, rec.ID, "callscreen-ring")
	if v.Action != "ring" || !strings.HasPrefix(v.Reasons, "allow+") || !strings.Contains(v.Reasons, "inbound-only") {
		t.Errorf("channel variables: %+v, want action=ring reasons=allow+...inbound-only...", v)
	}
}

// TestSpoofedToVoicemail: spoofing signals send the caller to voicemail.
func TestSpoofedToVoicemail(t *testing.T) {
	f := getFixture(t)
	t.Run("own number", func(t *testing.T) {
		// The business's own number calling it: own-number, 70.
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: ownNumber, Hold: 3 * time.Second})
		if !r.Answered {
			t.Errorf("voicemail did not answer: %s", r)
		}
		if f.invitesFrom(ownNumber) != 0 {
			t.Errorf("the desk phone rang for a spoofed own number")
		}
		rec := f.lastRecord(t, "+81399991000", start)
		t.Log(rec)
		if rec.Verdict.Action != "voicemail" || rec.Taken != "voicemail" || rec.Outcome != "voicemail" || rec.Verdict.Score != 70 ||
			!slices.Equal(rec.indicators(), []string{"own-number"}) {
			t.Errorf("want voicemail with score 70 from own-number: %s", rec)
		}
		v := f.waitScreenVars(t, rec.ID, "callscreen-voicemail")
		if v.Action != "voicemail" || v.Score != "70" || v.Reasons != "own-number" {
			t.Errorf("channel variables in callscreen-voicemail: %+v, want action=voicemail score=70 reasons=own-number", v)
		}
	})
	t.Run("international toll-free", func(t *testing.T) {
		// +1 877: inbound-only 60 + international 20 = 80. The caller
		// speaks after the greeting, so a message is left.
		const caller = "+18775550100"
		msgs := f.ast.VoicemailCount(mailbox)
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Audio: true, Hold: 28 * time.Second})
		if !r.Answered {
			t.Errorf("voicemail did not answer: %s", r)
		}
		if f.invitesFrom(caller) != 0 {
			t.Errorf("the desk phone rang for a toll-free caller")
		}
		rec := f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Verdict.Action != "voicemail" || rec.Outcome != "voicemail" || rec.Verdict.Score != 80 ||
			!slices.Contains(rec.indicators(), "inbound-only") || !slices.Contains(rec.indicators(), "international") {
			t.Errorf("want voicemail with score 80 from inbound-only and international: %s", rec)
		}
		v := f.waitScreenVars(t, rec.ID, "callscreen-voicemail")
		if v.Action != "voicemail" || v.Score != "80" || !strings.Contains(v.Reasons, "inbound-only") || !strings.Contains(v.Reasons, "international") {
			t.Errorf("channel variables in callscreen-voicemail: %+v", v)
		}
		f.waitVoicemail(t, msgs+1)
	})
}

// TestChallenge: on the challenge DID an international caller (score 20,
// threshold 15) must press the digit; one who does rings and is
// remembered, one who does not goes to voicemail.
func TestChallenge(t *testing.T) {
	f := getFixture(t)
	t.Run("right digit rings and is remembered", func(t *testing.T) {
		const caller = "+12025550123"
		prompts := f.countLog(pressDigitPrompt)
		start := time.Now()
		// The prompt starts right after the answer and lasts about 3.7 s
		// (press-digit, then digits/7); DTMF during it is taken.
		r := f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, DTMF: challengeDigit, DTMFDelay: 2500 * time.Millisecond, Hold: 7 * time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		f.waitRang(t, caller, 1)
		rec := f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Verdict.Profile != "challenge" || rec.Verdict.Action != "challenge" || rec.Taken != "ring" || rec.Outcome != "challenge-passed" {
			t.Errorf("want profile challenge, action challenge, taken ring, outcome challenge-passed: %s", rec)
		}
		if rec.AnswerDelay <= 0 || rec.AnswerDelay > 6*time.Second || !strings.Contains(rec.Detail, "pressed "+challengeDigit) {
			t.Errorf("answer delay %s / detail %q: want the press measured (0 < delay < 6 s)", rec.AnswerDelay, rec.Detail)
		}
		if f.countLog(pressDigitPrompt) <= prompts {
			t.Errorf("full.log shows no press-digit prompt")
		}
		if v := f.waitScreenVars(t, rec.ID, "callscreen-ring"); v.Action != "ring" || v.Reasons != "international" {
			t.Errorf("channel variables in callscreen-ring: %+v", v)
		}

		// The same number again: it rings at once.
		start = time.Now()
		r = f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, Hold: time.Second})
		if !r.Answered {
			t.Errorf("second call not answered: %s", r)
		}
		f.waitRang(t, caller, 2)
		rec = f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Verdict.Action != "ring" || rec.Outcome != "rang" || !strings.Contains(rec.Verdict.Override, "passed a challenge") {
			t.Errorf("want ring/rang by the remembered challenge: %s", rec)
		}
		if out := f.cli(t, "lists", "show", "allow"); !strings.Contains(out, caller) {
			t.Errorf("lists show allow does not list %s:\n%s", caller, out)
		}
	})
	t.Run("silence fails to voicemail", func(t *testing.T) {
		const caller = "+12025550124"
		msgs := f.ast.VoicemailCount(mailbox)
		start := time.Now()
		// Two attempts of about 3.7 s prompt + 3 s wait, then the
		// voicemail greeting (about 13 s): speech all along, so the
		// message holds the last seconds.
		r := f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, Audio: true, Hold: 42 * time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		rec := f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Verdict.Action != "challenge" || rec.Taken != "voicemail" || rec.Outcome != "challenge-failed" || !strings.Contains(rec.Detail, "no answer") {
			t.Errorf("want challenge, taken voicemail, challenge-failed (no answer): %s", rec)
		}
		if f.invitesFrom(caller) != 0 {
			t.Errorf("the desk phone rang for a caller who failed the challenge")
		}
		if v := f.waitScreenVars(t, rec.ID, "callscreen-voicemail"); v.Action != "voicemail" {
			t.Errorf("channel variables in callscreen-voicemail: %+v", v)
		}
		f.waitVoicemail(t, msgs+1)
	})
	t.Run("wrong digit twice falls back", func(t *testing.T) {
		const caller = "+12025550125"
		start := time.Now()
		// First 3 during the first prompt; the wrong-digit prompt (2.6 s)
		// and the second prompt follow; the second 3 lands in it.
		r := f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, DTMF: "33", DTMFDelay: 2500 * time.Millisecond, DTMFGap: 5 * time.Second, Hold: 14 * time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		rec := f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Verdict.Action != "challenge" || rec.Taken != "voicemail" || rec.Outcome != "challenge-failed" || !strings.Contains(rec.Detail, "wrong digit 3 (attempt 2 of 2)") {
			t.Errorf("want challenge-failed with the second wrong digit, to voicemail: %s", rec)
		}
		if f.invitesFrom(caller) != 0 {
			t.Errorf("the desk phone rang for a caller who pressed the wrong digit")
		}
		if v := f.waitScreenVars(t, rec.ID, "callscreen-voicemail"); v.Action != "voicemail" {
			t.Errorf("channel variables in callscreen-voicemail: %+v", v)
		}
		if out := f.cli(t, "lists", "show", "allow"); strings.Contains(out, caller) {
			t.Errorf("a caller who failed the challenge was allow-listed:\n%s", out)
		}
	})
}

// TestScanner: a SIP scanner on the public endpoint is dropped unanswered;
// a source that matches no endpoint never reaches callscreen.
func TestScanner(t *testing.T) {
	f := getFixture(t)
	t.Run("friendly-scanner on the public endpoint", func(t *testing.T) {
		invites := f.desk.Invites()
		start := time.Now()
		r := f.call(t, harness.CallSpec{Source: harness.StrangerAddr, To: ownNumber, FromUser: "100", Headers: []string{"User-Agent: friendly-scanner"}})
		if r.Answered || r.Final < 400 {
			t.Errorf("want refused unanswered: %s", r)
		}
		if n := f.desk.Invites(); n != invites {
			t.Errorf("the desk phone rang for a scanner")
		}
		rec := f.waitRecord(t, "100", start, func(r record) bool { return strings.HasPrefix(r.Facts.Source, harness.StrangerAddr) })
		t.Log(rec)
		if rec.Verdict.Action != "drop" || rec.Taken != "drop" || rec.Outcome != "dropped" || rec.Verdict.Profile != "public" ||
			!slices.Contains(rec.indicators(), "scanner-agent") || rec.Facts.Trunk != "public" {
			t.Errorf("want drop/dropped on profile public with scanner-agent: %s (trunk %q)", rec, rec.Facts.Trunk)
		}
		if v := f.screenVars(rec.ID); len(v) != 0 {
			t.Errorf("a scanner entered a routing context: %+v", v)
		}
	})
	t.Run("unknown source refused by PJSIP", func(t *testing.T) {
		const caller = "0311119004"
		invites := f.desk.Invites()
		start := time.Now()
		r := f.call(t, harness.CallSpec{Source: harness.UnknownAddr, To: ownNumber, FromUser: caller})
		if r.Answered || (r.Final != 401 && r.Final != 403 && r.Final != 404) {
			t.Errorf("want 401/403/404 from PJSIP: %s", r)
		}
		if n := f.desk.Invites(); n != invites {
			t.Errorf("the desk phone rang for an unknown source")
		}
		// Give the log writer time to flush anything it might have had.
		time.Sleep(3 * time.Second)
		if rec, ok := f.findRecord(t, "+81311119004", start, nil); ok {
			t.Errorf("a call PJSIP refused reached callscreen: %s", rec)
		}
	})
}

// TestBlockListReject: a block-listed caller hears the reject prompt and is
// hung up on.
func TestBlockListReject(t *testing.T) {
	f := getFixture(t)
	const caller = "0312348899"
	// An entry that expires keeps its reason, which the verdict then shows.
	f.listsChange(t, "add", "block", caller, "--reason", "called nine times at night", "--expires", "7d")
	prompts := f.countLog(rejectPrompt)
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: 20 * time.Second})
	if !r.Answered || !r.RemoteHangup || r.Duration < 1500*time.Millisecond || r.Duration > 15*time.Second {
		t.Errorf("want answered, the 2.3 s reject prompt, then hung up by Asterisk: %s", r)
	}
	if f.invitesFrom(caller) != 0 {
		t.Errorf("the desk phone rang for a block-listed caller")
	}
	if n := f.countLog(rejectPrompt); n != prompts+1 {
		t.Errorf("full.log shows the reject prompt played %d times, want once", n-prompts)
	}
	rec := f.lastRecord(t, "+81312348899", start)
	t.Log(rec)
	if rec.Verdict.Action != "reject" || rec.Taken != "reject" || rec.Outcome != "announced" || !slices.Contains(rec.indicators(), "block-list") {
		t.Errorf("want reject, announced, block-list: %s", rec)
	}
	if !strings.Contains(rec.Verdict.Reason+fmt.Sprint(rec.Verdict.Findings), "nine times") {
		t.Errorf("the block entry's reason is not in the verdict: %s %v", rec.Verdict.Reason, rec.Verdict.Findings)
	}
}

// TestAsteriskRestart: after Asterisk restarts, callscreen reconnects and
// screens again within 30 s; calls in between fail open and ring.
func TestAsteriskRestart(t *testing.T) {
	f := getFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reconnects := f.reconnects()
	down := time.Now()
	if err := f.ast.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("Asterisk restarted in %s", back.Sub(down).Round(10*time.Millisecond))
	var registered time.Duration
	for i := 1; ; i++ {
		if registered == 0 && f.ariStatus(ctx, "/applications/callscreen") == 200 {
			registered = time.Since(back)
		}
		caller := fmt.Sprintf("03111200%02d", i)
		placed := time.Now()
		r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: 500 * time.Millisecond})
		if !r.Answered {
			t.Errorf("call %d after the restart was not answered (fail-open or ring): %s", i, r)
		}
		f.waitRang(t, caller, 1)
		time.Sleep(500 * time.Millisecond) // the log writer batches
		if rec, ok := f.findRecord(t, "+81"+caller[1:], placed, nil); ok {
			took := placed.Sub(back)
			t.Logf("screened again: call %d placed %s after Asterisk was back (ARI application registered after %s): %s",
				i, took.Round(10*time.Millisecond), registered.Round(10*time.Millisecond), rec)
			if took > 30*time.Second {
				t.Errorf("callscreen took %s to screen again, want under 30 s", took)
			}
			if rec.Outcome != "rang" {
				t.Errorf("want rang: %s", rec)
			}
			// Prove the connection really went down and came back.
			if f.reconnects() <= reconnects {
				t.Errorf("callscreen serve logged no reconnection to ARI after the restart")
			}
			return
		}
		if time.Since(back) > 60*time.Second {
			t.Fatalf("no call screened within 60 s of Asterisk's restart")
		}
	}
}

// TestServiceDownFailsOpen: with callscreen stopped (SIGTERM) or killed
// (SIGKILL), calls still ring through the dialplan's fail-open; serve is
// started again afterwards.
func TestServiceDownFailsOpen(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			if err := f.stopServe(sig); err != nil {
				t.Fatal(err)
			}
			if sig == syscall.SIGTERM && !strings.Contains(harness.ReadFile(f.serveLog), `"msg":"callscreen stopped"`) {
				t.Errorf("serve did not log its orderly stop")
			}
			// Asterisk drops the application when its websocket closes.
			poll(t, 10*time.Second, func() bool { return f.ariStatus(ctx, "/applications/callscreen") == 404 },
				func() string { return "Asterisk still lists the callscreen application" })
			caller := fmt.Sprintf("031113000%d", i+1)
			// The WARNING line itself, not the Log() application's trace.
			warning := `Ext\. \d+: callscreen is not running: ` + caller + ` -> `
			warnings := f.countLog(warning)
			start := time.Now()
			r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: time.Second})
			if !r.Answered {
				t.Errorf("fail-open call not answered: %s", r)
			}
			f.waitRang(t, caller, 1)
			if f.countLog(warning) != warnings+1 {
				t.Errorf("full.log has no fail-open warning for %s", caller)
			}
			if err := f.startServe(ctx); err != nil {
				t.Fatal(err)
			}
			if rec, ok := f.findRecord(t, "+81"+caller[1:], start, nil); ok {
				t.Errorf("a call placed while callscreen was down has a record: %s", rec)
			}
		})
	}
	t.Run("screening again after the restart", func(t *testing.T) {
		const caller = "0311130009"
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		f.waitRang(t, caller, 1)
		rec := f.lastRecord(t, "+81311130009", start)
		if rec.Outcome != "rang" {
			t.Errorf("want rang: %s", rec)
		}
	})
}

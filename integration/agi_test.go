package integration

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// agiNumberRequestPrompt is res_agi's log line for the announcement
// (STREAM FILE adds escape digits and an offset to file.c's form).
const agiNumberRequestPrompt = `res_agi\.c: .*Playing 'callscreen/callscreen-number-request\.\w+'`

// TestFastAGI places the same calls as the ARI tests through the FastAGI
// front end: the harness routes harness.DIDAGI into [callscreen-agi]
// (AGI(agi://127.0.0.1:4573/screen?profile=)), and callscreen.yaml maps the
// DID to the "challenge" profile. Each decision must be logged like ARI's
// but with mode agi, and the dialplan must route it.
func TestFastAGI(t *testing.T) {
	f := getFixture(t)
	did := harness.DIDAGI

	t.Run("withheld hears the number request", func(t *testing.T) {
		invites, prompts := f.desk.Invites(), f.countLog(agiNumberRequestPrompt)
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: did, FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid", Hold: 30 * time.Second})
		if !r.Answered || !r.RemoteHangup || r.Duration < 5*time.Second || r.Duration > 25*time.Second {
			t.Errorf("want answered, about 6.7 s of announcement, then hung up by Asterisk: %s", r)
		}
		if f.desk.Invites() != invites {
			t.Errorf("the desk phone rang for a withheld call")
		}
		if f.countLog(agiNumberRequestPrompt) != prompts+1 {
			t.Errorf("full.log does not show the number-request prompt once")
		}
		rec := f.waitRecord(t, "", start, func(r record) bool { return r.Facts.Number == "anonymous" && r.Mode == "agi" })
		t.Log(rec)
		if rec.Verdict.Action != "number-request" || rec.Outcome != "announced" {
			t.Errorf("want number-request, announced: %s", rec)
		}
	})

	t.Run("clean caller rings", func(t *testing.T) {
		const caller = "0312345601"
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: did, FromUser: caller, Hold: time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		f.waitRang(t, caller, 1)
		rec := f.lastRecord(t, "+81312345601", start)
		t.Log(rec)
		if rec.Mode != "agi" || rec.Verdict.Profile != "challenge" || rec.Verdict.Action != "ring" || rec.Outcome != "rang" {
			t.Errorf("want mode agi, profile challenge, ring/rang: %s (mode %q)", rec, rec.Mode)
		}
		if v := f.waitScreenVars(t, rec.ID, "callscreen-ring"); v.Action != "ring" || v.Score != "0" {
			t.Errorf("channel variables in callscreen-ring: %+v", v)
		}
	})

	t.Run("own number goes to voicemail", func(t *testing.T) {
		caller := didChallenge // the challenge profile's own number
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: did, FromUser: caller, Audio: true, Hold: 4 * time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		rec := f.lastRecord(t, "+81"+caller[1:], start)
		t.Log(rec)
		if rec.Mode != "agi" || rec.Verdict.Action != "voicemail" || rec.Taken != "voicemail" {
			t.Errorf("want mode agi, voicemail: %s", rec)
		}
		if v := f.waitScreenVars(t, rec.ID, "callscreen-voicemail"); v.Action != "voicemail" || !strings.Contains(v.Reasons, "own-number") {
			t.Errorf("channel variables in callscreen-voicemail: %+v", v)
		}
	})

	t.Run("challenge: right digit rings", func(t *testing.T) {
		const caller = "+12025550133"
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: did, FromUser: caller, DTMF: challengeDigit, DTMFDelay: 2500 * time.Millisecond, Hold: 7 * time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		f.waitRang(t, caller, 1)
		rec := f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Mode != "agi" || rec.Verdict.Action != "challenge" || rec.Taken != "ring" || rec.Outcome != "challenge-passed" || rec.AnswerDelay <= 0 {
			t.Errorf("want mode agi, challenge passed with an answer delay, ring: %s", rec)
		}
	})

	t.Run("challenge: wrong digits fall back to voicemail", func(t *testing.T) {
		const caller = "+12025550134"
		start := time.Now()
		r := f.call(t, harness.CallSpec{To: did, FromUser: caller, DTMF: "33", DTMFDelay: 2500 * time.Millisecond, DTMFGap: 5 * time.Second, Hold: 14 * time.Second})
		if !r.Answered {
			t.Errorf("not answered: %s", r)
		}
		rec := f.lastRecord(t, caller, start)
		t.Log(rec)
		if rec.Mode != "agi" || rec.Taken != "voicemail" || rec.Outcome != "challenge-failed" {
			t.Errorf("want mode agi, challenge-failed, voicemail: %s", rec)
		}
		if f.invitesFrom(caller) != 0 {
			t.Errorf("the desk phone rang for a caller who failed the challenge")
		}
		if v := f.waitScreenVars(t, rec.ID, "callscreen-voicemail"); v.Action != "voicemail" {
			t.Errorf("channel variables in callscreen-voicemail: %+v", v)
		}
	})

	t.Run("FastAGI server down: the call still rings", func(t *testing.T) {
		if err := f.stopServe(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := f.startServe(context.Background()); err != nil {
				t.Fatal(err)
			}
		}()
		const caller = "0311130021"
		r := f.call(t, harness.CallSpec{To: did, FromUser: caller, Hold: time.Second})
		if !r.Answered {
			t.Errorf("fail-open call not answered: %s", r)
		}
		f.waitRang(t, caller, 1)
		if f.countLog(`callscreen FastAGI gave no verdict \(AGISTATUS=FAILURE`) == 0 {
			t.Errorf("full.log has no fail-open warning for the unreachable FastAGI server")
		}
	})
}

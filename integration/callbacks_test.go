package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// Issue 8, "never turn away a customer", end to end: expected callbacks,
// monitor mode, expiring blocks and throttling.

// didMonitor is screened with the "monitor" profile (dids:), which only
// logs what it would have done.
const didMonitor = "0399991002"

// outboundPrefix, dialled from the provider, stands in for the desk
// phone dialling out: the overlay routes 99<number> to the sample's
// outbound route (see outboundDialplan).
const outboundPrefix = "99"

// callbackHookRE finds the callback hook in the sample's commented
// outbound route in [from-internal].
var callbackHookRE = regexp.MustCompile(`(?m)^;exten => _0X\.,1,(AGI\(agi://127\.0\.0\.1:4573/callback\?number=\$\{EXTEN\}&key=\$\{CALLSCREEN_AGI_KEY\}\))$`)

// outboundDialplan returns the dialplan appended to extensions.conf for
// these tests: the sample's outbound route with its callback hook, taken
// from asterisk-conf/extensions.conf so that the sample and the test
// cannot drift apart. Its Dial to the provider is replaced by an answer:
// the outbound call ends in Asterisk.
func outboundDialplan(repo string) (string, error) {
	b, err := os.ReadFile(filepath.Join(repo, "asterisk-conf", "extensions.conf"))
	if err != nil {
		return "", err
	}
	m := callbackHookRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("asterisk-conf/extensions.conf: no commented outbound route with the callback hook (%s)", callbackHookRE)
	}
	return `
; ---- integration/callbacks_test.go: an outbound call with the callback hook ----
[from-provider]
exten => _` + outboundPrefix + `X.,1,Goto(callscreen-test-outbound,${EXTEN:` + fmt.Sprint(len(outboundPrefix)) + `},1)

[callscreen-test-outbound]
exten => _X.,1,` + string(m[1]) + `
 same => n,NoOp(callscreen-test-outbound: ${EXTEN} AGISTATUS=${AGISTATUS})
 same => n,Answer()
 same => n,Wait(1)
 same => n,Hangup()
`, nil
}

// TestExpectedCallback: after the business dials a number (through the
// outbound route's hook), a call back from it rings the desk, although
// the same call is otherwise challenged, and the log says why.
func TestExpectedCallback(t *testing.T) {
	f := getFixture(t)
	const (
		caller  = "+442079460123"   // London: international, so challenged on didChallenge
		dialled = "010442079460123" // the same number as dialled from Japan
	)
	before := f.cli(t, "check", "--did", didChallenge, caller)
	if !strings.Contains(before, "Verdict   CHALLENGE") {
		t.Fatalf("the test caller is not challenged without a callback:\n%s", before)
	}

	start := time.Now()
	r := f.call(t, harness.CallSpec{To: outboundPrefix + dialled, FromUser: "100", Hold: 3 * time.Second})
	if !r.Answered {
		t.Fatalf("the outbound test route did not answer: %s", r)
	}
	// The hook answers at once and never fails the call.
	f.waitLog(t, `callscreen-test-outbound: `+dialled+` AGISTATUS=SUCCESS`)
	poll(t, 10*time.Second, func() bool {
		return strings.Contains(f.cli(t, "lists", "show", "allow", "--source", "callback"), caller)
	}, func() string {
		return "lists show allow --source callback does not list " + caller + ":\n" + f.cli(t, "lists", "show", "allow") +
			"\nserve:\n" + harness.TailLines(harness.ReadFile(f.serveLog), 10)
	})
	if n := f.countLog(`callscreen-test-outbound: ` + dialled + ` AGISTATUS=`); n != 1 {
		t.Errorf("the outbound route ran %d times", n)
	}
	t.Logf("expected callback listed %s after the outbound call began", time.Since(start).Round(10*time.Millisecond))

	start = time.Now()
	r = f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, Hold: time.Second})
	if !r.Answered {
		t.Errorf("callback not answered: %s", r)
	}
	f.waitRang(t, caller, 1)
	rec := f.lastRecord(t, caller, start)
	t.Log(rec)
	if rec.Verdict.Action != "ring" || rec.Outcome != "rang" || !strings.HasPrefix(rec.Verdict.Override, "expected callback "+caller+" (outbound call ") {
		t.Errorf("want ring/rang by the expected callback: %s", rec)
	}
	if !slices.Contains(rec.indicators(), "international") {
		t.Errorf("the findings must be kept: %s", rec)
	}
	out := f.cli(t, "log", "--caller", caller, "-n", "1")
	if !strings.Contains(out, "allowed: expected callback "+caller+" (outbound call") || !strings.Contains(out, "fired: international") {
		t.Errorf("callscreen log does not explain the callback:\n%s", out)
	}
	check := f.cli(t, "check", "--did", didChallenge, caller)
	if !strings.Contains(check, "Reason    allowed: expected callback "+caller) || !strings.Contains(check, "international") {
		t.Errorf("callscreen check does not explain the callback:\n%s", check)
	}
}

// TestMonitorMode: on a DID in monitor mode a withheld caller rings the
// desk, and the log says the call would have been asked to redial.
func TestMonitorMode(t *testing.T) {
	f := getFixture(t)
	const name = "Monitor Trial"
	invites := len(f.desk.InviteLog())
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: didMonitor, FromUser: "anonymous", FromName: name, FromHost: "anonymous.invalid", Hold: time.Second})
	if !r.Answered {
		t.Errorf("not answered: %s", r)
	}
	poll(t, 10*time.Second, func() bool { return len(f.desk.InviteLog()) > invites }, func() string { return "the desk phone did not ring" })
	rec := f.waitRecord(t, "", start, func(r record) bool { return r.Facts.Called == didMonitor && r.Facts.Name == name })
	t.Log(rec)
	if rec.Verdict.Profile != "monitor" || rec.Verdict.Presence != "withheld" || rec.Verdict.Action != "number-request" ||
		rec.Verdict.Enforced != "ring" || rec.Taken != "ring" || rec.Outcome != "rang" {
		t.Errorf("want monitor, withheld, number-request enforced as ring, rang: %s", rec)
	}
	v := f.waitScreenVars(t, rec.ID, "callscreen-ring")
	if v.Action != "ring" {
		t.Errorf("channel variables: %+v", v)
	}
	out := f.cli(t, "log", "--monitor", "-n", "1")
	if !strings.Contains(out, "ring (monitor; would have: number-request)") {
		t.Errorf("callscreen log does not mark the monitor row:\n%s", out)
	}
	sum := f.cli(t, "log", "--summary", "--since", "10m")
	if !strings.Contains(sum, "would have been asked to call again with the number shown") {
		t.Errorf("callscreen log --summary:\n%s", sum)
	}
}

// TestExpiringBlock: a number blocked for one minute is rejected, and
// rings again once the entry has expired, with no one lifting it.
func TestExpiringBlock(t *testing.T) {
	f := getFixture(t)
	const caller = "0312347001"
	const e164 = "+81312347001"
	f.listsChange(t, "add", "block", caller, "--expires", "1m", "--reason", "one-minute test block")
	expires := time.Now().Add(time.Minute)

	start := time.Now()
	r := f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: 20 * time.Second})
	if f.invitesFrom(caller) != 0 {
		t.Errorf("the desk phone rang for a blocked caller: %s", r)
	}
	rec := f.lastRecord(t, e164, start)
	t.Log(rec)
	if rec.Verdict.Action != "reject" || !slices.Contains(rec.indicators(), "block-list") {
		t.Errorf("want reject by block-list: %s", rec)
	}

	time.Sleep(time.Until(expires) + 2*time.Second)
	start = time.Now()
	r = f.call(t, harness.CallSpec{To: ownNumber, FromUser: caller, Hold: time.Second})
	if !r.Answered {
		t.Errorf("not answered after the block expired: %s", r)
	}
	f.waitRang(t, caller, 1)
	rec = f.lastRecord(t, e164, start)
	t.Log(rec)
	if rec.Verdict.Action != "ring" || slices.Contains(rec.indicators(), "block-list") {
		t.Errorf("want ring without block-list after expiry: %s", rec)
	}
}

// TestThrottleRetries: a caller who fails the challenge and redials four
// times within a minute is throttled: the fourth retry, whose number the
// carrier vouches for (verstat A on the trusted trunk), goes to voicemail
// without a challenge, the log shows the throttle, lists show it; a call
// presenting the same number without attestation (perhaps the customer
// whose number was borrowed) is challenged instead; lists remove lifts
// the throttle.
func TestThrottleRetries(t *testing.T) {
	f := getFixture(t)
	const caller = "+12025550199" // international: challenged on didChallenge
	attested := []string{"P-Asserted-Identity: <sip:" + caller + "@" + harness.ProviderAddr + ";user=phone;verstat=TN-Validation-Passed-A>"}

	start := time.Now()
	// Two wrong digits (as in TestChallenge): a failed challenge.
	f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, DTMF: "33", DTMFDelay: 2500 * time.Millisecond, DTMFGap: 5 * time.Second, Hold: 14 * time.Second})
	rec := f.lastRecord(t, caller, start)
	t.Log(rec)
	if rec.Outcome != "challenge-failed" {
		t.Fatalf("the first call did not fail the challenge: %s", rec)
	}
	// Three quick retries hang up during the challenge prompt.
	for i := 1; i <= 3; i++ {
		placed := time.Now()
		f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, Hold: 1500 * time.Millisecond})
		rec := f.lastRecord(t, caller, placed)
		t.Logf("retry %d: %s", i, rec)
		if rec.Verdict.Action != "challenge" {
			t.Errorf("retry %d: want challenge: %s", i, rec)
		}
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("the calls took %s, more than the minute the test is about", d)
	}

	prompts := f.countLog(pressDigitPrompt)
	placed := time.Now()
	f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, Headers: attested, Hold: 3 * time.Second})
	rec = f.lastRecord(t, caller, placed)
	t.Logf("retry 4: %s", rec)
	var evidence string
	for _, fd := range rec.Verdict.Findings {
		if fd.Indicator == "throttled" {
			evidence = fd.Evidence
		}
	}
	if rec.Verdict.Action != "voicemail" || rec.Taken != "voicemail" || !regexp.MustCompile(`^called 4 times in \d+s after failing the challenge; throttled until \d\d:\d\d$`).MatchString(evidence) {
		t.Errorf("want voicemail with a throttled finding (evidence %q): %s", evidence, rec)
	}
	if n := f.countLog(pressDigitPrompt); n != prompts {
		t.Errorf("the throttled call was challenged again (%d prompts)", n-prompts)
	}
	if f.invitesFrom(caller) != 0 {
		t.Errorf("the desk phone rang for a throttled caller")
	}
	out := f.cli(t, "log", "--caller", caller, "-n", "1")
	if !strings.Contains(out, "throttled: called 4 times") {
		t.Errorf("callscreen log does not show the throttle:\n%s", out)
	}
	show := f.cli(t, "lists", "show", "block", "--source", "challenge-failures")
	if !strings.Contains(show, caller) || !strings.Contains(show, "after failing the challenge") {
		t.Errorf("lists show --source challenge-failures:\n%s", show)
	}

	// The same number without attestation: challenged, not sent away.
	placed = time.Now()
	f.call(t, harness.CallSpec{To: didChallenge, FromUser: caller, Hold: 1500 * time.Millisecond})
	rec = f.lastRecord(t, caller, placed)
	t.Logf("not attested: %s", rec)
	if rec.Verdict.Action != "challenge" || !slices.Contains(rec.indicators(), "throttled") || !strings.Contains(rec.Verdict.Reason, "not attested") {
		t.Errorf("want a challenge for the throttled but unattested number: %s (reason %q)", rec, rec.Verdict.Reason)
	}

	// Undo: lists remove lifts the throttle (serve reloads; check, which
	// counts no velocity, shows the verdict a call now gets).
	f.listsChange(t, "remove", "block", caller)
	if out := f.cli(t, "check", "--did", didChallenge, caller); !strings.Contains(out, "Verdict   CHALLENGE") || strings.Contains(out, "throttled") {
		t.Errorf("after lists remove, want a challenge again:\n%s", out)
	}
}

// waitLog waits until Asterisk's full log matches re.
func (f *fixture) waitLog(t *testing.T, re string) {
	t.Helper()
	poll(t, 10*time.Second, func() bool { return f.countLog(re) > 0 },
		func() string { return "full.log never matched " + re + ":\n" + harness.TailLines(f.ast.FullLog(), 20) })
}

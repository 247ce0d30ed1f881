package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// Issue 13, "Japan as calls really arrive": real-shaped calls from the
// carrier trunk for every caller class and number type, through ARI and
// FastAGI, and an emergency call-back window opened by dialling 110.

// jpCall is one call from the carrier trunk and where it must end.
type jpCall struct {
	name     string
	user     string // From user; "anonymous" with host anonymous.invalid
	display  string // From display name
	presence string
	action   string // the verdict: ring, challenge, voicemail, number-request
	// indicator must be among the findings, evidence in its evidence.
	indicator, evidence string
	// check is a line "callscreen check" must print for this call.
	check string
}

// jpCalls are the calls of TestJapanCallers. The no-CLI reasons are the
// From display names Japan's NGN and 3GPP networks send on an anonymous
// From, in title and lower case.
var jpCalls = []jpCall{
	{name: "Anonymous", user: "anonymous", display: "Anonymous", presence: "withheld", action: "number-request", check: `number withheld: display name "Anonymous"`},
	{name: "anonymous lower", user: "anonymous", display: "anonymous", presence: "withheld", action: "number-request", check: "Presence  withheld"},
	{name: "Coin line/payphone", user: "anonymous", display: "Coin line/payphone", presence: "payphone", action: "ring", check: `payphone: display name "Coin line/payphone"`},
	{name: "coin line/payphone lower", user: "anonymous", display: "coin line/payphone", presence: "payphone", action: "ring", check: "Presence  payphone"},
	{name: "Interaction with other service", user: "anonymous", display: "Interaction with other service", presence: "unavailable", action: "challenge", check: `display name "Interaction with other service", the network's reason`},
	{name: "interaction lower", user: "anonymous", display: "interaction with other service", presence: "unavailable", action: "challenge", check: "Presence  unavailable"},
	{name: "Unavailable", user: "anonymous", display: "Unavailable", presence: "unavailable", action: "challenge", check: `number unavailable (out of area or international): display name "Unavailable"`},
	{name: "unavailable lower", user: "anonymous", display: "unavailable", presence: "unavailable", action: "challenge", check: "Presence  unavailable"},
	{name: "bank's 0120", user: "0120444444", presence: "presented", action: "ring",
		indicator: "domestic-service-number", evidence: "+81120444444 is a JP toll-free number presented by the trusted carrier", check: "domestic-service-number"},
	{name: "US toll-free +1 877", user: "+18775550177", presence: "presented", action: "voicemail",
		indicator: "inbound-only", evidence: "+18775550177 is a US toll-free number", check: "Verdict   VOICEMAIL"},
	{name: "110", user: "110", display: "警察", presence: "presented", action: "voicemail",
		indicator: "impossible-caller", evidence: "110 is the police emergency number; it never places calls", check: "110 is the police emergency number"},
	{name: "4 digits", user: "1234", presence: "presented", action: "voicemail",
		indicator: "impossible-caller", evidence: "1234 has 4 digits, shorter than any subscriber number in JP", check: "1234 has 4 digits"},
}

// hint186Prompt matches Asterisk's "Playing" line (file.c for ARI,
// res_agi.c for FastAGI) for the hint after the Number Request.
const hint186Prompt = `Playing 'callscreen/callscreen-hint-186\.\w+'`

// TestJapanCallers places each of jpCalls through ARI (the default
// profile) and FastAGI (harness.DIDAGI, the challenge profile), and checks
// the verdict, where the call ended (desk rang, voicemail, announcement,
// challenge) and what "callscreen check" explains.
func TestJapanCallers(t *testing.T) {
	f := getFixture(t)
	for _, fe := range []struct{ mode, did string }{{"ari", ownNumber}, {"agi", harness.DIDAGI}} {
		for _, c := range jpCalls {
			t.Run(fe.mode+"/"+c.name, func(t *testing.T) {
				spec := harness.CallSpec{To: fe.did, FromUser: c.user, FromName: c.display, Hold: 3 * time.Second}
				if c.user == "anonymous" {
					spec.FromHost = "anonymous.invalid"
				}
				if c.action == "number-request" {
					spec.Hold = 30 * time.Second // the announcement hangs up first
				}
				invites, hints := f.desk.Invites(), f.countLog(hint186Prompt)
				start := time.Now()
				r := f.call(t, spec)
				rec := f.waitRecord(t, "", start, func(r record) bool {
					return r.Mode == fe.mode && r.Facts.Called == fe.did && r.Facts.Number == c.user && r.Facts.Name == c.display
				})
				t.Log(rec)
				if rec.Verdict.Presence != c.presence || rec.Verdict.Action != c.action {
					t.Errorf("want presence %s, action %s: %s", c.presence, c.action, rec)
				}
				if c.indicator != "" {
					i := slices.IndexFunc(rec.Verdict.Findings, func(fd struct {
						Indicator string `json:"indicator"`
						Weight    int    `json:"weight"`
						Evidence  string `json:"evidence"`
					}) bool {
						return fd.Indicator == c.indicator
					})
					if i < 0 || !strings.Contains(rec.Verdict.Findings[i].Evidence, c.evidence) {
						t.Errorf("want %s with evidence %q: %+v", c.indicator, c.evidence, rec.Verdict.Findings)
					}
				}
				switch c.action {
				case "ring":
					poll(t, 10*time.Second, func() bool { return f.desk.Invites() > invites }, func() string { return "the desk phone did not ring" })
					if rec.Outcome != "rang" {
						t.Errorf("want outcome rang: %s", rec)
					}
				case "voicemail":
					if rec.Taken != "voicemail" || !r.Answered {
						t.Errorf("want voicemail taken and answered: %s; %s", rec, r)
					}
					f.waitScreenVars(t, rec.ID, "callscreen-voicemail")
				case "number-request":
					if rec.Outcome != "announced" || !r.RemoteHangup {
						t.Errorf("want the announcement, then Asterisk hanging up: %s; %s", rec, r)
					}
					// English prompts for a JP profile name 186 after the request.
					if n := f.countLog(hint186Prompt); n != hints+1 {
						t.Errorf("full.log shows the 186 hint played %d times, want once", n-hints)
					}
				case "challenge":
					// The caller presses nothing and hangs up during the challenge.
					if !r.Answered || rec.Outcome == "rang" || rec.Outcome == "announced" {
						t.Errorf("want answered and challenged: %s; %s", rec, r)
					}
				}
				if c.action != "ring" && f.desk.Invites() != invites {
					t.Errorf("the desk phone rang for a %s call", c.action)
				}

				args := []string{"check", "--did", fe.did, "--trunk", "provider", "--source", harness.ProviderAddr}
				if c.display != "" {
					args = append(args, "--name", c.display)
				}
				if c.user == "anonymous" {
					args = append(args, "--from-header", fmt.Sprintf("%q <sip:anonymous@anonymous.invalid>", c.display))
				}
				out := f.cli(t, append(args, c.user)...)
				if !strings.Contains(out, "Verdict   "+strings.ToUpper(c.action)) || !strings.Contains(out, c.check) {
					t.Errorf("callscreen check does not explain the call (want verdict %s and %q):\n%s", c.action, c.check, out)
				}
			})
		}
	}
}

// emergencyWindow is callbacks.emergency_window in testConfig.
const emergencyWindow = 30 * time.Second

// emergencyHookRE finds the emergency route's hook in the sample's
// commented outbound routes in [from-internal].
var emergencyHookRE = regexp.MustCompile(`(?m)^;exten => _11\[089\],1,(AGI\(agi://127\.0\.0\.1:4573/callback\?number=\$\{EXTEN\}&key=\$\{CALLSCREEN_AGI_KEY\}\))$`)

// TestEmergencyCallback: dialling 110 through the outbound hook makes a
// withheld call ring, logged as emergency-callback naming the 110 call,
// even after serve crashed and started again within the window; after
// callbacks.emergency_window (testConfig: 30s) the same call hears the
// Number Request again.
func TestEmergencyCallback(t *testing.T) {
	f := getFixture(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(repo, "asterisk-conf", "extensions.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// The test's outbound route runs the hook of the sample's general
	// route; the sample's emergency route must run the very same hook.
	em, gen := emergencyHookRE.FindSubmatch(sample), callbackHookRE.FindSubmatch(sample)
	if em == nil || gen == nil || string(em[1]) != string(gen[1]) {
		t.Fatalf("asterisk-conf/extensions.conf: the emergency route's hook %q is not the outbound route's %q", em, gen)
	}
	withheld := func(hold time.Duration) harness.CallSpec {
		return harness.CallSpec{To: ownNumber, FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid", Hold: hold}
	}

	dialled := time.Now()
	r := f.call(t, harness.CallSpec{To: outboundPrefix + "110", FromUser: "100", Hold: time.Second})
	if !r.Answered {
		t.Fatalf("the outbound test route did not answer: %s", r)
	}
	windowEnd := dialled.Add(emergencyWindow)
	t.Cleanup(func() {
		// Leave no open window to the tests that follow.
		time.Sleep(time.Until(windowEnd.Add(time.Second)))
	})
	f.waitLog(t, `callscreen-test-outbound: 110 AGISTATUS=SUCCESS`)
	poll(t, 10*time.Second, func() bool {
		return strings.Contains(harness.ReadFile(f.serveLog), "emergency number dialled")
	}, func() string {
		return "serve did not log the emergency call:\n" + harness.TailLines(harness.ReadFile(f.serveLog), 10)
	})
	// serve crashes and starts again within the window: the window stays
	// open (it is kept in the database and reopened at start).
	if err := f.stopServe(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := f.startServe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(harness.ReadFile(f.serveLog), "emergency callback window still open from before this start") {
		t.Errorf("serve did not say it reopened the window:\n%s", harness.TailLines(harness.ReadFile(f.serveLog), 10))
	}

	invites := f.desk.Invites()
	start := time.Now()
	r = f.call(t, withheld(time.Second))
	if !r.Answered {
		t.Errorf("withheld call in the window not answered: %s", r)
	}
	poll(t, 10*time.Second, func() bool { return f.desk.Invites() > invites }, func() string { return "the desk phone did not ring" })
	rec := f.waitRecord(t, "", start, func(r record) bool { return r.Facts.Number == "anonymous" })
	t.Log(rec)
	if time.Now().After(windowEnd) {
		t.Fatalf("the machine is too slow for the %s window: the withheld call was logged after it closed", emergencyWindow)
	}
	if rec.Verdict.Action != "ring" || rec.Outcome != "rang" || rec.Verdict.Override != "emergency-callback" ||
		!strings.Contains(rec.Verdict.Reason, "emergency-callback: 110 (the police emergency number) dialled at") ||
		!strings.Contains(rec.Verdict.Reason, " by call ") {
		t.Errorf("want ring/rang by emergency-callback naming the 110 call: %s reason %q", rec, rec.Verdict.Reason)
	}
	out := f.cli(t, "log", "-n", "5")
	if !strings.Contains(out, "emergency-callback: 110") {
		t.Errorf("callscreen log does not say why the withheld call rang:\n%s", out)
	}

	time.Sleep(time.Until(windowEnd.Add(time.Second)))
	invites = f.desk.Invites()
	start = time.Now()
	r = f.call(t, withheld(30*time.Second))
	rec = f.waitRecord(t, "", start, func(r record) bool { return r.Facts.Number == "anonymous" })
	t.Log(rec)
	if rec.Verdict.Action != "number-request" || rec.Outcome != "announced" || rec.Verdict.Override != "" || !r.RemoteHangup {
		t.Errorf("after the window want the number request again: %s; %s", rec, r)
	}
	if f.desk.Invites() != invites {
		t.Error("the desk phone rang after the window")
	}
}

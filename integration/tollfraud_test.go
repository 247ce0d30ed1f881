package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// outboundTrunkAddr plays an outbound SIP trunk: a sipp UAS that only
// counts the INVITEs it receives. The toll-fraud test routes [from-internal]
// to it; no inbound caller may ever reach it.
const outboundTrunkAddr = "127.0.0.20"

// outboundConf is added to the running Asterisk for the toll-fraud test:
// an outbound trunk and a [from-internal] route that dials anything out, as
// a real PBX would have.
const (
	tollFraudPJSIP = `
; ---- toll-fraud test (integration/tollfraud_test.go): a fake outbound trunk ----
[trunk-out]
type=endpoint
transport=transport-udp
context=trunk-out-inbound-unused
disallow=all
allow=ulaw,alaw
aors=trunk-out
[trunk-out]
type=aor
contact=sip:` + outboundTrunkAddr + `:5060
`
	tollFraudDialplan = `
; ---- toll-fraud test (integration/tollfraud_test.go): dial out ----
[from-internal]
exten => _X.,1,Dial(PJSIP/${EXTEN}@trunk-out,5)
exten => _*X.,1,Dial(PJSIP/${EXTEN}@trunk-out,5)
exten => _#X.,1,Dial(PJSIP/${EXTEN}@trunk-out,5)
exten => _+X.,1,Dial(PJSIP/${EXTEN}@trunk-out,5)
exten => a,1,Dial(PJSIP/a@trunk-out,5)
exten => o,1,Dial(PJSIP/o@trunk-out,5)
exten => i,1,Dial(PJSIP/i@trunk-out,5)
exten => t,1,Dial(PJSIP/t@trunk-out,5)
`
)

// appendLive appends text to a configuration file of the running Asterisk
// and runs the reload commands; restore puts the file back and reloads.
func (f *fixture) appendLive(t *testing.T, file, text string, reload ...string) (restore func()) {
	t.Helper()
	p := filepath.Join(f.ast.Root, "etc/asterisk", file)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(append([]byte{}, orig...), text...), 0o640); err != nil {
		t.Fatal(err)
	}
	doReload := func() {
		for _, c := range reload {
			if out, err := f.ast.CLI(context.Background(), c); err != nil {
				t.Errorf("%s: %v %s", c, err, out)
			}
		}
	}
	doReload()
	return func() {
		if err := os.WriteFile(p, orig, 0o640); err != nil {
			t.Error(err)
		}
		doReload()
	}
}

// TestNoTollFraud: whatever a caller presses during the challenge, the
// Number Request announcement, while ringing and at voicemail (including
// voicemail's * and 0 escapes), and whatever extension an INVITE names,
// nothing reaches the outbound trunk.
func TestNoTollFraud(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	trunk, err := harness.StartDeskPhone(ctx, harness.DeskPhoneOptions{Addr: outboundTrunkAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer trunk.Stop()
	defer f.appendLive(t, "pjsip.conf", tollFraudPJSIP, "module reload res_pjsip.so")()
	defer f.appendLive(t, "extensions.conf", tollFraudDialplan, "dialplan reload")()

	// Positive control: the route works for an internal call.
	out, _ := f.ast.CLI(ctx, "dialplan show 9011441234567@from-internal")
	if !strings.Contains(out, "trunk-out") {
		t.Fatalf("outbound route not loaded:\n%s", out)
	}
	poll(t, 10*time.Second, func() bool {
		o, _ := f.ast.CLI(ctx, "pjsip show endpoint trunk-out")
		return strings.Contains(o, "trunk-out")
	}, func() string { return "endpoint trunk-out not loaded" })
	internalSteps := f.countLog(`Executing \[[^@\]]*@from-internal:`)
	if out, err := f.ast.CLI(ctx, "channel originate Local/0120999999@from-internal application Wait 1"); err != nil {
		t.Fatalf("originate: %v %s", err, out)
	}
	poll(t, 15*time.Second, func() bool { return trunk.Invites() >= 1 },
		func() string { return "the outbound route does not reach the fake trunk: the test would prove nothing" })
	f.assertNoStuckChannels(t)
	base := trunk.Invites()
	t.Logf("control: an internal call reached the fake outbound trunk (%d INVITE)", base)

	digits := []string{"*", "#", "0", "9011441234567", "*9011441234567#", "00", "0#0#", "*97", "##9011", "**0", "#*#*", "0123456789*#"}
	type attempt struct {
		name string
		spec harness.CallSpec
	}
	var calls []attempt
	for i, d := range digits {
		// During the challenge prompt (international caller on the
		// challenge DID; never the right digit alone).
		calls = append(calls, attempt{"challenge " + d, harness.CallSpec{To: didChallenge, FromUser: fmt.Sprintf("+1202555%04d", 1100+i),
			DTMF: d, DTMFDelay: 1500 * time.Millisecond, DTMFGap: 250 * time.Millisecond, Hold: 12 * time.Second}})
		// During the Number Request announcement.
		calls = append(calls, attempt{"number request " + d, harness.CallSpec{To: ownNumber, FromUser: "anonymous", FromHost: "anonymous.invalid",
			DTMF: d, DTMFDelay: 1500 * time.Millisecond, DTMFGap: 250 * time.Millisecond, Hold: 10 * time.Second}})
		// At voicemail: during the greeting (* and 0 escapes) and later
		// while recording.
		calls = append(calls, attempt{"voicemail greeting " + d, harness.CallSpec{To: harness.DIDVoicemail, FromUser: fmt.Sprintf("03111%05d", 200+i),
			DTMF: d, DTMFDelay: 500 * time.Millisecond, DTMFGap: 250 * time.Millisecond, Hold: 10 * time.Second}})
		calls = append(calls, attempt{"voicemail recording " + d, harness.CallSpec{To: harness.DIDVoicemail, FromUser: fmt.Sprintf("03112%05d", 200+i),
			DTMF: d, DTMFDelay: 6 * time.Second, DTMFGap: 250 * time.Millisecond, Hold: 12 * time.Second}})
		// While bridged to the desk (no transfer features in Dial).
		calls = append(calls, attempt{"ringing/bridged " + d, harness.CallSpec{To: harness.DIDRing, FromUser: fmt.Sprintf("03113%05d", 200+i),
			DTMF: d, DTMFDelay: 1 * time.Second, DTMFGap: 250 * time.Millisecond, Hold: 6 * time.Second}})
	}
	// INVITEs naming internal or outbound extensions directly.
	for _, to := range []string{"9011441234567", "0120999999", "100", "s", "a", "o", "i", "t", "h", "+9011441234567", "*97", "#9011"} {
		calls = append(calls, attempt{"INVITE to " + to, harness.CallSpec{To: to, FromUser: "0312345678", DTMF: "9011#", Hold: 4 * time.Second}})
		calls = append(calls, attempt{"stranger INVITE to " + to, harness.CallSpec{Source: harness.StrangerAddr, To: to, FromUser: "0312345678", DTMF: "9011#", Hold: 4 * time.Second}})
	}

	sem := make(chan struct{}, 6)
	errs := make(chan error, len(calls))
	results := make([]harness.CallResult, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			r, err := harness.PlaceCall(cctx, c.spec)
			results[i] = r
			if err != nil {
				errs <- fmt.Errorf("%s: %v", c.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	answered := 0
	for i, c := range calls {
		if results[i].Answered {
			answered++
		}
		t.Logf("%-34s %s", c.name, results[i])
	}
	f.assertNoStuckChannels(t)
	time.Sleep(2 * time.Second)
	if n := trunk.Invites() - base; n != 0 {
		for _, inv := range trunk.InviteLog()[base:] {
			t.Errorf("the outbound trunk received INVITE %s from %s", inv.RequestURI, inv.From)
		}
		t.Fatalf("TOLL FRAUD: %d calls reached the outbound trunk", n)
	}
	// Where the escapes went: no inbound call may have executed anything in
	// [from-internal].
	if n := f.countLog(`Executing \[[^@\]]*@from-internal:`) - internalSteps; n != 1 {
		t.Errorf("full.log shows %d dialplan steps in from-internal, want 1 (the control call)", n)
	}
	t.Logf("%d hostile calls (%d answered, %d DTMF sequences at 5 prompts, 24 INVITEs to internal/outbound extensions): 0 reached the outbound trunk",
		len(calls), answered, len(digits))
	f.assertServeHealthy(t)
}

// TestStrangerSweep: a SIP scanner's sweep (SIPVicious style: OPTIONS to
// several users, INVITEs to extensions and international/premium
// numbers) from an address that is not the provider. From 127.0.0.4 (no
// endpoint) nothing reaches the dialplan at all; from 127.0.0.3 (the
// optional public endpoint) the calls are screened and dropped. Nothing
// rings.
func TestStrangerSweep(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	users := []string{"100", "1000", "101", "200", "admin", "asterisk"}
	numbers := []string{"100", "1000", "011441234567", "00441234567", "900123456", "9011441234567", "0990123456", "0399991000"}
	sweep := func(src string) (answered int, finals map[int]int) {
		finals = map[int]int{}
		for _, u := range users {
			r, err := placeRaw(ctx, rawCall{Name: "OPTIONS " + u, Source: src, Method: "OPTIONS", To: u,
				From: `"` + u + `" <sip:` + u + `@` + src + `>`, Headers: []string{"User-Agent: friendly-scanner"}})
			if err != nil {
				t.Errorf("OPTIONS %s from %s: %v", u, src, err)
			}
			finals[r.Final]++
		}
		for _, n := range numbers {
			r, err := placeRaw(ctx, rawCall{Name: "INVITE " + n, Source: src, To: n, Hold: time.Second,
				From: `"100" <sip:100@` + src + `>`, Headers: []string{"User-Agent: friendly-scanner"}})
			if err != nil {
				t.Errorf("INVITE %s from %s: %v", n, src, err)
			}
			finals[r.Final]++
			if r.Answered {
				answered++
			}
		}
		return answered, finals
	}
	desk := f.desk.Invites()
	steps := f.countLog(`Executing \[`)
	start := time.Now()
	ans, finals := sweep(harness.UnknownAddr)
	if ans != 0 {
		t.Errorf("%d INVITEs from %s were answered", ans, harness.UnknownAddr)
	}
	time.Sleep(2 * time.Second)
	if n := f.countLog(`Executing \[`) - steps; n != 0 {
		t.Errorf("the sweep from %s executed %d dialplan steps, want none", harness.UnknownAddr, n)
	}
	for _, r := range f.records(t, "") {
		if r.Time.After(start.Add(-time.Second)) && strings.HasPrefix(r.Facts.Source, harness.UnknownAddr) {
			t.Errorf("a call from %s reached callscreen: %s", harness.UnknownAddr, r)
		}
	}
	t.Logf("sweep from %s (%d OPTIONS, %d INVITEs): finals %v, 0 dialplan steps, 0 call log records", harness.UnknownAddr, len(users), len(numbers), finals)

	start = time.Now()
	ans, finals = sweep(harness.StrangerAddr)
	var dropped int
	poll(t, 15*time.Second, func() bool {
		dropped = 0
		for _, r := range f.records(t, "") {
			if r.Time.After(start.Add(-time.Second)) && strings.HasPrefix(r.Facts.Source, harness.StrangerAddr) && r.Taken == "drop" {
				dropped++
			}
		}
		return dropped >= len(numbers)
	}, func() string {
		return fmt.Sprintf("%d of %d scanner INVITEs from %s dropped", dropped, len(numbers), harness.StrangerAddr)
	})
	if ans != 0 {
		t.Errorf("%d scanner INVITEs from %s were answered", ans, harness.StrangerAddr)
	}
	t.Logf("sweep from %s (%d OPTIONS, %d INVITEs): finals %v, %d dropped by callscreen as a scanner", harness.StrangerAddr, len(users), len(numbers), finals, dropped)
	if n := f.desk.Invites() - desk; n != 0 {
		t.Errorf("the sweeps rang the desk %d times", n)
	}
	f.assertNoStuckChannels(t)
}

package screening

import (
	"strings"
	"testing"
	"time"
)

func TestEvaluateThrottled(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	throttle := Entry{Kind: Block, Number: "+81312345678", Source: SourceChallengeFailures,
		Reason: "failed the challenge 3 times in 2m", Expires: now.Add(10 * time.Minute), Created: now}
	p := testPolicy()
	p.Profiles["strict"].Throttled = Reject
	p.Throttle = DefaultThrottleConfig()
	lists := NewLists(nil)
	lists.Put(throttle)
	eng, err := NewEngine(p, lists, NewNumbering(100), NewVelocity(DefaultVelocityConfig()))
	if err != nil {
		t.Fatal(err)
	}
	// attested is the throttled number's call with a STIR/SHAKEN identity
	// of attestation A that Asterisk verified.
	attested := func() *Facts {
		f := provider("0312345678")
		f.Stir = []StirResult{{Attestation: "A", VerifyResult: "success"}}
		return f
	}
	tests := []struct {
		name             string
		profile          string
		facts            func() *Facts
		action, enforced Action
	}{
		{"attested: voicemail, no challenge", "", attested, Voicemail, Voicemail},
		{"attested, strict: reject", "strict", attested, Reject, Reject},
		{"attested, monitor: would have", "trial", attested, Voicemail, Ring},
		{"carrier verstat A on the trusted trunk", "", func() *Facts {
			f := provider("0312345678")
			f.PAI = "<sip:+81312345678@203.0.113.10;user=phone;verstat=TN-Validation-Passed-A>"
			return f
		}, Voicemail, Voicemail},
		// Anyone can present the number: the throttle must not lock out
		// the customer whose number a robocaller borrowed.
		{"not attested: challenged", "", func() *Facts { return provider("0312345678") }, Challenge, Challenge},
		{"not attested, strict: challenged", "strict", func() *Facts { return provider("0312345678") }, Challenge, Challenge},
		{"not attested, monitor", "trial", func() *Facts { return provider("0312345678") }, Challenge, Ring},
		{"attestation B", "", func() *Facts {
			f := attested()
			f.Stir[0].Attestation = "B"
			return f
		}, Challenge, Challenge},
		{"attestation A, verification failed", "", func() *Facts {
			f := attested()
			f.Stir[0].VerifyResult = "invalid_signature"
			return f
		}, Challenge, Challenge},
		{"attestation A, nothing verified", "", func() *Facts {
			f := attested()
			f.Stir[0].VerifyResult = ""
			return f
		}, Challenge, Challenge},
		{"verstat A from an untrusted address", "", func() *Facts {
			f := provider("0312345678")
			f.Source = "198.51.100.7:5060"
			f.PAI = "<sip:+81312345678@198.51.100.7;user=phone;verstat=TN-Validation-Passed-A>"
			return f
		}, Challenge, Challenge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := eng.Evaluate(tt.facts(), tt.profile)
			if v.Action != tt.action || v.Enforced != tt.enforced {
				t.Errorf("%s/%s, want %s/%s (%s)", v.Action, v.Enforced, tt.action, tt.enforced, v.Reason)
			}
			want := "failed the challenge 3 times in 2m; throttled until 10:10"
			if !hasFinding(v, IndicatorThrottled, want) || !strings.Contains(v.Reason, want) {
				t.Errorf("findings %+v reason %q, want throttled: %q", v.Findings, v.Reason, want)
			}
			if hasFinding(v, "block-list", "") || v.Block != nil {
				t.Errorf("a throttle entry is not an operator block, nor to be written again: %+v", v)
			}
		})
	}

	// Allow still wins, with the throttle in the evidence.
	lists.Put(Entry{Kind: Allow, Number: "+81312345678", Source: SourceCallback, Reason: "outbound call 2026-11-23 09:55", Expires: now.Add(time.Hour)})
	v := eng.Evaluate(provider("0312345678"), "")
	if v.Action != Ring || !strings.Contains(v.Reason, "expected callback") || !hasFinding(v, IndicatorThrottled, "") {
		t.Errorf("allowed and throttled: %s %q %+v", v.Action, v.Reason, v.Findings)
	}

	// A weight of 0 turns throttling off.
	lists.Delete(Allow, "+81312345678")
	p.Profiles["default"].Weights = map[string]int{IndicatorThrottled: 0}
	off, err := NewEngine(p, lists, NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := off.Evaluate(provider("0312345678"), ""); v.Action != Ring || hasFinding(v, IndicatorThrottled, "") {
		t.Errorf("weight 0: %s %+v", v.Action, v.Findings)
	}
}

func TestEvaluateVelocityThrottle(t *testing.T) {
	p := testPolicy()
	p.Throttle = DefaultThrottleConfig()
	p.Throttle.Velocity = 4
	eng, err := NewEngine(p, NewLists(nil), NewNumbering(100), NewVelocity(DefaultVelocityConfig()))
	if err != nil {
		t.Fatal(err)
	}
	f := provider("0312345678")
	f.Stir = []StirResult{{Attestation: "A", VerifyResult: "success"}}
	var v Verdict
	for i := range 4 {
		f.Time = f.Time.Add(5 * time.Second)
		v = eng.Evaluate(f, "")
		if i < 3 && (v.Block != nil || hasFinding(v, IndicatorThrottled, "")) {
			t.Fatalf("call %d throttled below the limit: %+v", i+1, v)
		}
	}
	if v.Action != Voicemail || v.Block == nil {
		t.Fatalf("4th call: %s block %+v, want voicemail and a block to persist", v.Action, v.Block)
	}
	b := v.Block
	if b.Kind != Block || b.Number != "+81312345678" || b.Source != SourceVelocity ||
		!b.Expires.Equal(f.Time.Add(time.Hour)) || b.Reason != "called 4 times in the last 1m0s (limit 4)" {
		t.Errorf("block %+v", b)
	}
	// Not attested: challenged, and the throttle is persisted all the same.
	f.Stir = nil
	f.Time = f.Time.Add(time.Second)
	if v := eng.Evaluate(f, ""); v.Action != Challenge || !hasFinding(v, IndicatorThrottled, "") {
		t.Errorf("not attested: %s %q, want challenge", v.Action, v.Reason)
	}
	// In monitor mode nothing is persisted.
	f.Called = "0399998888" // the trial DID
	f.Time = f.Time.Add(time.Second)
	if v := eng.Evaluate(f, ""); !v.Monitor || v.Block != nil || v.Enforced != Ring || !hasFinding(v, IndicatorThrottled, "") {
		t.Errorf("monitor: %+v", v)
	}
}

func hasFinding(v Verdict, name, evidence string) bool {
	for _, f := range v.Findings {
		if f.Indicator == name && strings.Contains(f.Evidence, evidence) {
			return true
		}
	}
	return false
}

package screening

import (
	"strings"
	"testing"
	"time"
)

func TestThrottlerObserve(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	const num = "+81312345678"
	rec := func(at time.Duration, out Outcome) Record {
		return Record{
			Time: t0.Add(at), Mode: ModeARI, Outcome: out, Handling: 10 * time.Second,
			Verdict: Verdict{Caller: num, Presence: Presented, Action: Challenge},
		}
	}
	failed, abandoned, rang := OutcomeChallengeFailed, OutcomeAbandoned, OutcomeRang
	type step struct {
		at  time.Duration
		out Outcome
	}
	tests := []struct {
		name   string
		calls  []step
		fires  int    // index of the call that throttles; -1 for none
		reason string // substring of the entry's reason
	}{
		{"three failures in the window", []step{{0, failed}, {3 * time.Minute, failed}, {5 * time.Minute, failed}}, 2, "failed the challenge 3 times in 5m"},
		{"failures spread beyond the window", []step{{0, failed}, {6 * time.Minute, failed}, {11 * time.Minute, failed}}, -1, ""},
		{"four calls in a minute after a failure", []step{{0, failed}, {15 * time.Second, abandoned}, {30 * time.Second, abandoned}, {45 * time.Second, abandoned}}, 3, "called 4 times in 45s after failing the challenge"},
		{"retries slower than a minute", []step{{0, failed}, {30 * time.Second, abandoned}, {70 * time.Second, abandoned}, {100 * time.Second, abandoned}}, -1, ""},
		{"calls before any failure do not count", []step{{0, abandoned}, {10 * time.Second, abandoned}, {20 * time.Second, abandoned}, {30 * time.Second, failed}}, -1, ""},
		{"a caller who rings is not throttled", []step{{0, rang}, {10 * time.Second, rang}, {20 * time.Second, rang}, {30 * time.Second, rang}}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := NewThrottler(DefaultThrottleConfig())
			fired := -1
			var got Entry
			for i, c := range tt.calls {
				r := rec(c.at, c.out)
				if e, ok := th.Observe(&r); ok {
					if fired >= 0 {
						t.Fatalf("throttled twice (calls %d and %d)", fired, i)
					}
					fired, got = i, e
				}
			}
			if fired != tt.fires {
				t.Fatalf("throttled at call %d, want %d (entry %+v)", fired, tt.fires, got)
			}
			if fired < 0 {
				return
			}
			end := t0.Add(tt.calls[fired].at + 10*time.Second)
			if got.Kind != Block || got.Number != num || got.Source != SourceChallengeFailures || !got.Expires.Equal(end.Add(10*time.Minute)) {
				t.Errorf("entry %+v, want a challenge-failures block until %s", got, end.Add(10*time.Minute))
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason %q, want %q", got.Reason, tt.reason)
			}
			if th.Len() != 0 {
				t.Errorf("a throttled number is still tracked")
			}
		})
	}
}

func TestThrottlerIgnores(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	base := Record{Time: t0, Mode: ModeARI, Outcome: OutcomeChallengeFailed,
		Verdict: Verdict{Caller: "+81312345678", Presence: Presented}}
	tests := []struct {
		name string
		edit func(r *Record)
	}{
		{"check", func(r *Record) { r.Mode = ModeCheck }},
		{"monitor", func(r *Record) { r.Verdict.Monitor = true }},
		{"allowed", func(r *Record) { r.Verdict.Override = "allow list +81312345678" }},
		{"withheld", func(r *Record) { r.Verdict.Presence = Withheld; r.Verdict.Caller = "anonymous" }},
		{"not E.164", func(r *Record) { r.Verdict.Caller = "100" }},
		{"already throttled", func(r *Record) { r.Verdict.Findings = []Finding{{Indicator: IndicatorThrottled}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := NewThrottler(ThrottleConfig{Failures: 1, Window: time.Hour, Cooldown: time.Hour, MaxTracked: 10})
			r := base
			tt.edit(&r)
			if e, ok := th.Observe(&r); ok || th.Len() != 0 {
				t.Errorf("observed: %+v, tracked %d", e, th.Len())
			}
		})
	}
	// The same record unedited throttles at once with failures: 1.
	th := NewThrottler(ThrottleConfig{Failures: 1, Window: time.Hour, Cooldown: time.Hour, MaxTracked: 10})
	if _, ok := th.Observe(&base); !ok {
		t.Error("failures: 1 did not throttle on the first failure")
	}
	// Disabled, nil: nothing.
	var nilT *Throttler
	if _, ok := nilT.Observe(&base); ok {
		t.Error("a nil Throttler throttled")
	}
}

func TestThrottlerBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	cfg := DefaultThrottleConfig()
	cfg.MaxTracked = 3
	th := NewThrottler(cfg)
	for i := range 10 {
		r := Record{Time: t0.Add(time.Duration(i) * time.Second), Mode: ModeARI, Outcome: OutcomeChallengeFailed,
			Verdict: Verdict{Caller: "+8131234560" + string(rune('0'+i)), Presence: Presented}}
		th.Observe(&r)
	}
	if th.Len() != 3 {
		t.Errorf("tracking %d numbers, want the bound 3", th.Len())
	}
	// Later, stale numbers make room.
	r := Record{Time: t0.Add(time.Hour), Mode: ModeARI, Outcome: OutcomeChallengeFailed,
		Verdict: Verdict{Caller: "+81312349999", Presence: Presented}}
	th.Observe(&r)
	if th.Len() != 1 {
		t.Errorf("tracking %d numbers after the sweep, want 1", th.Len())
	}
}

func TestThrottleConfigValidate(t *testing.T) {
	if err := DefaultThrottleConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func(*ThrottleConfig){
		func(c *ThrottleConfig) { c.Failures = -1 },
		func(c *ThrottleConfig) { c.Window = time.Second },
		func(c *ThrottleConfig) { c.Cooldown = 0 },
		func(c *ThrottleConfig) { c.VelocityCooldown = 0 },
		func(c *ThrottleConfig) { c.Retries = 1 },
		func(c *ThrottleConfig) { c.MaxTracked = 0 },
	} {
		c := DefaultThrottleConfig()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	off := ThrottleConfig{MaxTracked: 1}
	if err := off.Validate(); err != nil {
		t.Errorf("everything off: %v", err)
	}
}

func TestCheckThrottled(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	lists := NewLists(nil)
	lists.Put(Entry{Kind: Block, Number: "+81312345678", Source: SourceChallengeFailures,
		Reason: "failed the challenge 3 times in 2m", Expires: time.Date(2026, 11, 23, 15, 4, 0, 0, time.UTC)})
	lists.Put(Entry{Kind: Block, Number: "+81312340000", Source: SourceOperator, Reason: "nuisance"})
	lists.Put(Entry{Kind: Block, Number: "+81312341111", Source: SourceVelocity, Reason: "called 6 times",
		Expires: now.Add(-time.Minute)}) // expired
	call := func(num string, calls int, limit int) *Call {
		return &Call{Now: now, Presence: Presented, Lists: lists, Caller: Number{E164: num},
			Velocity: VelocityCounts{Window: time.Minute, Number: calls},
			Throttle: ThrottleConfig{Velocity: limit, VelocityCooldown: time.Hour}}
	}
	tests := []struct {
		name     string
		c        *Call
		hit      bool
		evidence string
	}{
		{"challenge failures", call("+81312345678", 1, 6), true, "failed the challenge 3 times in 2m; throttled until 15:04"},
		{"operator block is block-list's", call("+81312340000", 1, 6), false, ""},
		{"expired throttle", call("+81312341111", 1, 6), false, ""},
		{"velocity limit reached", call("+81312342222", 6, 6), true, "called 6 times in the last 1m0s (limit 6); throttled until 16:00"},
		{"below the velocity limit", call("+81312342222", 5, 6), false, ""},
		{"velocity throttle off", call("+81312342222", 50, 0), false, ""},
		{"withheld", &Call{Now: now, Presence: Withheld, Lists: lists}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, hit := checkThrottled(tt.c)
			if hit != tt.hit || ev != tt.evidence {
				t.Errorf("checkThrottled = %q, %v; want %q, %v", ev, hit, tt.evidence, tt.hit)
			}
		})
	}
	if _, hit := checkBlockList(call("+81312345678", 1, 6)); hit {
		t.Error("block-list fired on a throttle entry")
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 2*time.Minute + 10*time.Second: "2m", time.Hour: "1h", 90 * time.Minute: "1h30m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

package dialplan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// fakeChannel records the calls a flow makes, in order, and answers them
// from a script.
type fakeChannel struct {
	calls []string
	vars  []map[string]string
	// digits answers PlayAndRead in turn; "" is silence.
	digits []string
	// fail makes the n-th call of a method (1-based, by method name)
	// return err.
	fail map[string]failAt
	n    map[string]int
}

type failAt struct {
	n   int
	err error
}

func (f *fakeChannel) hit(method, call string) error {
	f.calls = append(f.calls, call)
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[method]++
	if fa, ok := f.fail[method]; ok && (fa.n == 0 || fa.n == f.n[method]) {
		return fa.err
	}
	return nil
}

func (f *fakeChannel) Answer(context.Context) error { return f.hit("answer", "answer") }

func (f *fakeChannel) Play(_ context.Context, sounds ...string) error {
	return f.hit("play", "play "+strings.Join(sounds, " "))
}

func (f *fakeChannel) PlayAndRead(_ context.Context, sounds []string, timeout time.Duration) (string, error) {
	if err := f.hit("read", fmt.Sprintf("read %s /%s", strings.Join(sounds, " "), timeout)); err != nil {
		return "", err
	}
	if len(f.digits) == 0 {
		return "", nil
	}
	d := f.digits[0]
	f.digits = f.digits[1:]
	return d, nil
}

func (f *fakeChannel) SetVars(_ context.Context, vars map[string]string) error {
	f.vars = append(f.vars, vars)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if k == VarAction || k == VarLanguage || k == VarChallenge || k == VarNameFile {
			keys = append(keys, k+"="+vars[k])
		}
	}
	slices.Sort(keys)
	return f.hit("vars", "vars "+strings.Join(keys, " "))
}

func (f *fakeChannel) Continue(_ context.Context, t Target) error {
	return f.hit("continue", fmt.Sprintf("continue %s,%s,%d", t.Context, t.Extension, t.Priority))
}

func (f *fakeChannel) Hangup(_ context.Context, c Cause) error {
	return f.hit("hangup", "hangup "+string(c))
}

func (f *fakeChannel) RecordName(_ context.Context, name string, max time.Duration) (string, error) {
	if err := f.hit("record", fmt.Sprintf("record %s %s", name, max)); err != nil {
		return "", err
	}
	return "/rec/" + name, nil
}

func TestAct(t *testing.T) {
	errBoom := errors.New("HTTP 500")
	verdict := func(a screening.Action) screening.Verdict {
		return screening.Verdict{CallID: "c1", Profile: "default", Presence: screening.Presented,
			Caller: "+81312345678", Score: 40, Action: a, Enforced: a}
	}
	prof := func(mod func(*Profile)) Profile {
		p := DefaultProfile()
		if mod != nil {
			mod(&p)
		}
		return p
	}
	const (
		vRing    = "vars SCREEN_ACTION=ring"
		ring     = "continue callscreen-ring,,1"
		vm       = "continue callscreen-voicemail,,1"
		press7   = "read callscreen/callscreen-press-digit digits/7 /5s"
		press4   = "read callscreen/callscreen-press-digit digits/4 /5s"
		vChallen = "vars CHANNEL(language)=en SCREEN_ACTION=challenge"
	)
	tests := []struct {
		name     string
		v        screening.Verdict
		p        Profile
		ch       fakeChannel
		digits   []int
		want     []string
		taken    screening.Action
		outcome  screening.Outcome
		detail   string
		remember bool
	}{
		{name: "ring", v: verdict(screening.Ring), p: prof(nil),
			want: []string{vRing, ring}, taken: screening.Ring, outcome: screening.OutcomeRang},
		{name: "voicemail", v: verdict(screening.Voicemail), p: prof(nil),
			want: []string{"vars SCREEN_ACTION=voicemail", vm}, taken: screening.Voicemail, outcome: screening.OutcomeVoicemail},
		{name: "monitor mode rings", v: screening.Verdict{CallID: "c1", Action: screening.Reject, Enforced: screening.Ring, Monitor: true}, p: prof(nil),
			want: []string{vRing, ring}, taken: screening.Ring, outcome: screening.OutcomeRang},
		{name: "custom target keeps extension and priority",
			v: verdict(screening.Ring), p: prof(func(p *Profile) { p.Targets.Ring = Target{Context: "desk", Extension: "100", Priority: 3} }),
			want: []string{vRing, "continue desk,100,3"}, taken: screening.Ring, outcome: screening.OutcomeRang},
		{name: "number request announces", v: verdict(screening.NumberRequest), p: prof(nil),
			want:  []string{"vars CHANNEL(language)=en SCREEN_ACTION=number-request", "answer", "play callscreen/callscreen-number-request", "hangup normal"},
			taken: screening.NumberRequest, outcome: screening.OutcomeAnnounced},
		{name: "number request in Japanese", v: verdict(screening.NumberRequest), p: prof(func(p *Profile) { p.Prompts.Language = "ja" }),
			want:  []string{"vars CHANNEL(language)=ja SCREEN_ACTION=number-request", "answer", "play callscreen/callscreen-number-request", "hangup normal"},
			taken: screening.NumberRequest, outcome: screening.OutcomeAnnounced},
		{name: "number request with the local hint", v: verdict(screening.NumberRequest), p: prof(func(p *Profile) { p.Prompts.NumberRequestHint = "callscreen/callscreen-hint-star82" }),
			want:  []string{"vars CHANNEL(language)=en SCREEN_ACTION=number-request", "answer", "play callscreen/callscreen-number-request", "play callscreen/callscreen-hint-star82", "hangup normal"},
			taken: screening.NumberRequest, outcome: screening.OutcomeAnnounced},
		{name: "number request as SIP 433", v: verdict(screening.NumberRequest), p: prof(func(p *Profile) { p.NumberRequestSIP = true }),
			want:  []string{"vars SCREEN_ACTION=number-request", "continue callscreen-hangup,433,1"},
			taken: screening.NumberRequest, outcome: screening.OutcomeRejected, detail: "SIP 433"},
		{name: "reject unanswered", v: verdict(screening.Reject), p: prof(nil),
			want: []string{"vars SCREEN_ACTION=reject", "hangup rejected"}, taken: screening.Reject, outcome: screening.OutcomeRejected},
		{name: "reject with prompt", v: verdict(screening.Reject), p: prof(func(p *Profile) { p.RejectPrompt = true }),
			want:  []string{"vars CHANNEL(language)=en SCREEN_ACTION=reject", "answer", "play callscreen/callscreen-reject", "hangup normal"},
			taken: screening.Reject, outcome: screening.OutcomeAnnounced},
		{name: "drop", v: verdict(screening.Drop), p: prof(nil),
			want: []string{"vars SCREEN_ACTION=drop", "hangup unallocated"}, taken: screening.Drop, outcome: screening.OutcomeDropped},
		{name: "challenge passed", v: verdict(screening.Challenge), p: prof(nil),
			ch: fakeChannel{digits: []string{"7"}}, digits: []int{7},
			want:  []string{vChallen, "answer", press7, "vars SCREEN_ACTION=ring SCREEN_CHALLENGE=passed", ring},
			taken: screening.Ring, outcome: screening.OutcomeChallengePassed, detail: "pressed 7 after", remember: true},
		{name: "challenge passed on the second attempt with a new digit", v: verdict(screening.Challenge), p: prof(nil),
			ch: fakeChannel{digits: []string{"3", "4"}}, digits: []int{7, 4},
			want:  []string{vChallen, "answer", press7, "play callscreen/callscreen-wrong-digit", press4, "vars SCREEN_ACTION=ring SCREEN_CHALLENGE=passed", ring},
			taken: screening.Ring, outcome: screening.OutcomeChallengePassed, remember: true},
		{name: "challenge wrong twice goes to voicemail", v: verdict(screening.Challenge), p: prof(nil),
			ch: fakeChannel{digits: []string{"3", "3"}}, digits: []int{7, 4},
			want:  []string{vChallen, "answer", press7, "play callscreen/callscreen-wrong-digit", press4, "vars SCREEN_ACTION=voicemail SCREEN_CHALLENGE=failed", vm},
			taken: screening.Voicemail, outcome: screening.OutcomeChallengeFailed, detail: "wrong digit 3 (attempt 2 of 2)"},
		{name: "challenge silence", v: verdict(screening.Challenge), p: prof(func(p *Profile) { p.Challenge.Attempts = 1 }),
			digits: []int{7},
			want:   []string{vChallen, "answer", press7, "vars SCREEN_ACTION=voicemail SCREEN_CHALLENGE=failed", vm},
			taken:  screening.Voicemail, outcome: screening.OutcomeChallengeFailed, detail: "no answer"},
		{name: "challenge failed with reject fallback", v: verdict(screening.Challenge),
			p:  prof(func(p *Profile) { p.Challenge.Attempts = 1; p.Challenge.Fallback = FallbackReject }),
			ch: fakeChannel{digits: []string{"#"}}, digits: []int{7},
			want:  []string{vChallen, "answer", press7, "vars SCREEN_ACTION=reject SCREEN_CHALLENGE=failed", "hangup rejected"},
			taken: screening.Reject, outcome: screening.OutcomeChallengeFailed, detail: "wrong digit #"},
		{name: "challenge with notice and name", v: verdict(screening.Challenge),
			p:  prof(func(p *Profile) { p.Challenge.RecordingNotice = true; p.Challenge.RecordName = true }),
			ch: fakeChannel{digits: []string{"7"}}, digits: []int{7},
			want: []string{vChallen, "answer", "play callscreen/callscreen-recording-notice", press7,
				"play callscreen/callscreen-say-name", "record callscreen-name-c1 3s",
				"vars SCREEN_ACTION=ring SCREEN_CHALLENGE=passed SCREEN_NAME_FILE=/rec/callscreen-name-c1", ring},
			taken: screening.Ring, outcome: screening.OutcomeChallengePassed, remember: true},
		{name: "failed name recording still rings", v: verdict(screening.Challenge),
			p:  prof(func(p *Profile) { p.Challenge.RecordName = true }),
			ch: fakeChannel{digits: []string{"7"}, fail: map[string]failAt{"record": {err: errBoom}}}, digits: []int{7},
			want: []string{vChallen, "answer", press7, "play callscreen/callscreen-say-name", "record callscreen-name-c1 3s",
				"vars SCREEN_ACTION=ring SCREEN_CHALLENGE=passed", ring},
			taken: screening.Ring, outcome: screening.OutcomeChallengePassed, remember: true},
		{name: "challenge not remembered when remember is 0", v: verdict(screening.Challenge),
			p:  prof(func(p *Profile) { p.Challenge.Remember = 0 }),
			ch: fakeChannel{digits: []string{"7"}}, digits: []int{7},
			want:  []string{vChallen, "answer", press7, "vars SCREEN_ACTION=ring SCREEN_CHALLENGE=passed", ring},
			taken: screening.Ring, outcome: screening.OutcomeChallengePassed},
		{name: "hangup during number request prompt", v: verdict(screening.NumberRequest), p: prof(nil),
			ch:    fakeChannel{fail: map[string]failAt{"play": {err: ErrHangup}}},
			want:  []string{"vars CHANNEL(language)=en SCREEN_ACTION=number-request", "answer", "play callscreen/callscreen-number-request"},
			taken: screening.NumberRequest, outcome: screening.OutcomeAbandoned, detail: "hangup during prompt"},
		{name: "hangup during challenge", v: verdict(screening.Challenge), p: prof(nil),
			ch: fakeChannel{fail: map[string]failAt{"read": {n: 2, err: fmt.Errorf("wrapped: %w", ErrHangup)}}, digits: []string{"1"}}, digits: []int{7, 4},
			want:  []string{vChallen, "answer", press7, "play callscreen/callscreen-wrong-digit", press4},
			taken: screening.Challenge, outcome: screening.OutcomeAbandoned, detail: "wrong digit 1 (attempt 1 of 2); hangup during challenge prompt"},
		{name: "error on continue fails open to ring", v: verdict(screening.Voicemail), p: prof(nil),
			ch:    fakeChannel{fail: map[string]failAt{"continue": {n: 1, err: errBoom}}},
			want:  []string{"vars SCREEN_ACTION=voicemail", vm, vRing, ring},
			taken: screening.Ring, outcome: screening.OutcomeError, detail: "continue to callscreen-voicemail: HTTP 500"},
		{name: "error on answer fails open to ring", v: verdict(screening.Challenge), p: prof(nil),
			ch:    fakeChannel{fail: map[string]failAt{"answer": {err: errBoom}}},
			want:  []string{vChallen, "answer", vRing, ring},
			taken: screening.Ring, outcome: screening.OutcomeError, detail: "answer: HTTP 500"},
		{name: "error on answer fails closed to voicemail when the profile says so", v: verdict(screening.Challenge),
			p:     prof(func(p *Profile) { p.OnError = OnErrorVoicemail }),
			ch:    fakeChannel{fail: map[string]failAt{"answer": {err: errBoom}}},
			want:  []string{vChallen, "answer", "vars SCREEN_ACTION=voicemail", vm},
			taken: screening.Voicemail, outcome: screening.OutcomeError, detail: "answer: HTTP 500"},
		{name: "error on hangup of a reject fails open", v: verdict(screening.Reject), p: prof(nil),
			ch:    fakeChannel{fail: map[string]failAt{"hangup": {err: errBoom}}},
			want:  []string{"vars SCREEN_ACTION=reject", "hangup rejected", vRing, ring},
			taken: screening.Ring, outcome: screening.OutcomeError},
		{name: "unknown action fails open", v: verdict("bogus"), p: prof(nil),
			want: []string{vRing, ring}, taken: screening.Ring, outcome: screening.OutcomeError, detail: `unknown action "bogus"`},
		{name: "fail open that cannot continue is an error", v: verdict(screening.Ring), p: prof(nil),
			ch:    fakeChannel{fail: map[string]failAt{"continue": {err: errBoom}}},
			want:  []string{vRing, ring, vRing, ring},
			taken: screening.Ring, outcome: screening.OutcomeError, detail: "fail-open continue: HTTP 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := tt.ch
			digits := slices.Clone(tt.digits)
			o := ActOptions{Digit: func() int {
				if len(digits) == 0 {
					t.Fatal("more digits drawn than expected")
				}
				d := digits[0]
				digits = digits[1:]
				return d
			}}
			got := Act(context.Background(), &ch, tt.v, tt.p, o)
			if !slices.Equal(ch.calls, tt.want) {
				t.Errorf("calls:\n got %q\nwant %q", ch.calls, tt.want)
			}
			if got.Taken != tt.taken || got.Outcome != tt.outcome {
				t.Errorf("taken/outcome = %s/%s, want %s/%s (detail %q)", got.Taken, got.Outcome, tt.taken, tt.outcome, got.Detail)
			}
			if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", got.Detail, tt.detail)
			}
			if got.Remember != tt.remember {
				t.Errorf("remember = %v, want %v", got.Remember, tt.remember)
			}
			if tt.outcome == screening.OutcomeChallengePassed && got.AnswerDelay < 0 {
				t.Errorf("answer delay = %s", got.AnswerDelay)
			}
		})
	}
}

func TestActSetsVerdictVariables(t *testing.T) {
	long := strings.Repeat("x", 8192)
	v := screening.Verdict{
		CallID:   "1700000000.1\x00;Set(EVIL=1)",
		Profile:  "default,evil",
		Presence: screening.Withheld,
		Score:    75,
		Action:   screening.Reject,
		Enforced: screening.Ring,
		Override: "",
		Findings: []screening.Finding{{Indicator: "neighbour"}, {Indicator: "stir-failed\r\nexten => _X.,1,Dial(PJSIP/x)"}},
		Reason:   "name \"" + long + "\"",
	}
	var ch fakeChannel
	Act(context.Background(), &ch, v, DefaultProfile(), ActOptions{})
	if len(ch.vars) != 1 {
		t.Fatalf("SetVars called %d times, want 1", len(ch.vars))
	}
	got := ch.vars[0]
	want := map[string]string{
		VarAction:   "ring",
		VarDecision: "reject",
		VarScore:    "75",
		VarPresence: "withheld",
		VarProfile:  "default_evil",
		VarID:       "1700000000.1_Set_EVIL_1_",
		VarReasons:  "neighbour+stir-failedexten __ _X.+1+Dial_PJSIP/x_",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	for k, val := range got {
		if len(val) > 256 {
			t.Errorf("%s is %d bytes long", k, len(val))
		}
		if strings.ContainsAny(val, "\r\n\x00,;\"()$[]{}") {
			t.Errorf("%s = %q holds a dialplan metacharacter", k, val)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ring", "ring"},
		{"+81312345678", "+81312345678"},
		{"a,b;c|d", "a_b_c_d"},
		{"line1\r\nline2\x00\x7f", "line1line2"},
		{"${SHELL(rm -rf /)}", "__SHELL_rm -rf /__"},
		{"山田 太郎", "山田 太郎"},
		{"bad\xffutf8", "badutf8"},
		{"\u202eright-to-left", "right-to-left"},
		{strings.Repeat("é", 200), strings.Repeat("é", 128)},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDrawDigit(t *testing.T) {
	for _, set := range []string{"", "23456789", "7", "09"} {
		seen := map[int]bool{}
		for i := 0; i < 2000; i++ {
			d := drawDigit(set)
			want := set
			if want == "" {
				want = "123456789"
			}
			if !strings.ContainsRune(want, rune('0'+d)) {
				t.Fatalf("drawDigit(%q) = %d, not in the set", set, d)
			}
			seen[d] = true
		}
		if want := max(len(set), 9*btoi(set == "")); len(seen) != want {
			t.Errorf("drawDigit(%q) drew %d distinct digits in 2000 tries, want %d", set, len(seen), want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

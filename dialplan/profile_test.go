package dialplan

import (
	"strings"
	"testing"
	"time"
)

func TestProfileValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Profile)
		want []string // substrings of the error; none means valid
	}{
		{name: "default is valid", mod: func(*Profile) {}},
		{name: "japanese with 433 is valid", mod: func(p *Profile) {
			p.Prompts.Language = "ja"
			p.NumberRequestSIP = true
			p.Prompts.NumberRequest = ""
		}},
		{name: "missing ring context", mod: func(p *Profile) { p.Targets.Ring.Context = "" },
			want: []string{"profiles.default.targets.ring.context: required"}},
		{name: "hostile context and extension", mod: func(p *Profile) {
			p.Targets.Voicemail = Target{Context: "vm,1)", Extension: "${EXTEN}", Priority: -1}
		}, want: []string{
			"profiles.default.targets.voicemail.context:",
			"profiles.default.targets.voicemail.extension:",
			"profiles.default.targets.voicemail.priority: -1 is negative",
		}},
		{name: "bad prompts", mod: func(p *Profile) {
			p.Prompts.Language = "e n"
			p.Prompts.Reject = "../../etc/passwd"
			p.Prompts.NumberRequest = ""
		}, want: []string{
			"profiles.default.prompts.language:",
			"profiles.default.prompts.reject:",
			"profiles.default.prompts.number_request: required when number_request_sip is false",
		}},
		{name: "bad challenge", mod: func(p *Profile) {
			p.Challenge = ChallengeConfig{Attempts: 0, Timeout: time.Hour, Fallback: "ring", Remember: -time.Hour, RecordName: true}
		}, want: []string{
			"profiles.default.challenge.attempts: 0 is outside 1..5",
			"profiles.default.challenge.timeout: 1h0m0s is outside 1s..30s",
			`profiles.default.challenge.fallback: "ring" is not voicemail or reject`,
			"profiles.default.challenge.remember: -1h0m0s is negative",
			"profiles.default.challenge.max_name: 0s is outside 1s..10s",
		}},
		{name: "fail closed is valid", mod: func(p *Profile) { p.OnError = OnErrorVoicemail }},
		{name: "bad on_error and digits", mod: func(p *Profile) { p.OnError = "drop"; p.Challenge.Digits = "1a" },
			want: []string{`profiles.default.on_error: "drop" is not ring or voicemail`, `profiles.default.challenge.digits: "1a" must be one or more of the digits 0-9`}},
		{name: "433 without hangup context", mod: func(p *Profile) { p.NumberRequestSIP = true; p.HangupContext = "" },
			want: []string{"profiles.default.hangup_context: required when number_request_sip is true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultProfile()
			tt.mod(&p)
			err := p.Validate("default")
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

package dialplan

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Target is a place in the dialplan a call is continued to.
type Target struct {
	// Context is the dialplan context, for example "callscreen-ring".
	Context string `mapstructure:"context" json:"context"`
	// Extension is the extension in Context; empty keeps the extension
	// the call arrived on (the DID).
	Extension string `mapstructure:"extension" json:"extension,omitempty"`
	// Priority is the priority to start at; 0 means 1.
	Priority int `mapstructure:"priority" json:"priority,omitempty"`
}

// Targets are the dialplan places callscreen routes calls to.
type Targets struct {
	Ring      Target `mapstructure:"ring" json:"ring"`
	Voicemail Target `mapstructure:"voicemail" json:"voicemail"`
}

// Prompts names the sounds the flows play. A sound is an Asterisk sound
// name without extension ("callscreen/callscreen-number-request",
// "digits/7", "beep"), looked up in the channel's language.
type Prompts struct {
	// Language is set as CHANNEL(language) before anything is played
	// ("en", "ja"); empty keeps the channel's own language.
	Language string `mapstructure:"language" json:"language,omitempty"`
	// NumberRequest asks a withheld caller to call again with the number
	// shown.
	NumberRequest string `mapstructure:"number_request" json:"number_request"`
	// NumberRequestHint, when set, is played right after NumberRequest:
	// the local way to show a number on one call
	// ("callscreen/callscreen-hint-186" in Japan, "-hint-star82" in North
	// America, "-hint-1470" in the UK). See DefaultNumberRequestHint.
	NumberRequestHint string `mapstructure:"number_request_hint" json:"number_request_hint,omitempty"`
	// Reject is played before a rejected call is hung up, when the profile
	// sets reject_prompt.
	Reject string `mapstructure:"reject" json:"reject"`
	// RecordingNotice tells the caller the call may be recorded; played
	// before the challenge when challenge.recording_notice is set.
	RecordingNotice string `mapstructure:"recording_notice" json:"recording_notice"`
	// PressDigit asks the caller to press a key; it is followed by
	// digits/N.
	PressDigit string `mapstructure:"press_digit" json:"press_digit"`
	// WrongDigit is played after a wrong key, before the next attempt.
	WrongDigit string `mapstructure:"wrong_digit" json:"wrong_digit"`
	// SayName asks the caller to say their name after the beep.
	SayName string `mapstructure:"say_name" json:"say_name"`
}

// DefaultNumberRequestHint returns the hint played after the Number
// Request for a business in country (ISO region) whose prompts are in
// language: how its callers show their number on one call. The Japanese
// prompt names 186 itself, so Japanese prompts get none; unknown
// countries get none.
func DefaultNumberRequestHint(country, language string) string {
	if language == "ja" {
		return ""
	}
	switch strings.ToUpper(country) {
	case "JP":
		return "callscreen/callscreen-hint-186"
	case "US", "CA":
		return "callscreen/callscreen-hint-star82"
	case "GB":
		return "callscreen/callscreen-hint-1470"
	}
	return ""
}

// Fallback actions of a failed challenge.
const (
	FallbackVoicemail = "voicemail"
	FallbackReject    = "reject"
)

// ChallengeConfig configures the "press N" challenge.
type ChallengeConfig struct {
	// Attempts is how many digits the caller may try. [2]
	Attempts int `mapstructure:"attempts" json:"attempts"`
	// Timeout is how long to wait for a key after the prompt ends. [5s]
	Timeout time.Duration `mapstructure:"timeout" json:"timeout"`
	// Fallback is what happens to a caller who fails: voicemail or
	// reject. [voicemail]
	Fallback string `mapstructure:"fallback" json:"fallback"`
	// Remember is how long a caller who passed stays on the allow list;
	// 0 does not remember. [720h]
	Remember time.Duration `mapstructure:"remember" json:"remember"`
	// RecordingNotice plays prompts.recording_notice first. [false]
	RecordingNotice bool `mapstructure:"recording_notice" json:"recording_notice"`
	// RecordName asks a caller who passed to say their name; the
	// recording is left in SCREEN_NAME_FILE for the ring context. [false]
	RecordName bool `mapstructure:"record_name" json:"record_name"`
	// MaxName is the longest name recording. [3s]
	MaxName time.Duration `mapstructure:"max_name" json:"max_name"`
	// Digits is the set the digit asked for is drawn from, at random for
	// every attempt. Leaving out 1 keeps "press 1" auto-responders from
	// passing by luck. [23456789]
	Digits string `mapstructure:"digits" json:"digits"`
}

// Profile is the Asterisk side of a profile: where calls go and what is
// played. The configuration loader embeds it next to screening.Profile.
type Profile struct {
	Targets   Targets         `mapstructure:"targets" json:"targets"`
	Prompts   Prompts         `mapstructure:"prompts" json:"prompts"`
	Challenge ChallengeConfig `mapstructure:"challenge" json:"challenge"`
	// NumberRequestSIP refuses withheld calls with SIP 433 Anonymity
	// Disallowed (RFC 5079) instead of answering and announcing. It needs
	// the hangup_context in the dialplan. [false]
	NumberRequestSIP bool `mapstructure:"number_request_sip" json:"number_request_sip"`
	// RejectPrompt answers rejected calls and plays prompts.reject before
	// hanging up; otherwise they are refused unanswered. [false]
	RejectPrompt bool `mapstructure:"reject_prompt" json:"reject_prompt"`
	// HangupContext is the dialplan context that refuses a call with the
	// SIP response code given as the extension (PJSIPHangup(${EXTEN})).
	// [callscreen-hangup]
	HangupContext string `mapstructure:"hangup_context" json:"hangup_context"`
	// OnError is where a call goes when callscreen fails while handling
	// it: ring (fail open, the default: never lose a customer's call) or
	// voicemail (fail closed: nothing unscreened rings). [ring]
	OnError string `mapstructure:"on_error" json:"on_error"`
}

// The choices of Profile.OnError.
const (
	OnErrorRing      = "ring"
	OnErrorVoicemail = "voicemail"
)

// DefaultProfile returns the Asterisk side every configured profile starts
// from: the contexts of the shipped extensions.conf and the shipped
// prompts.
func DefaultProfile() Profile {
	return Profile{
		Targets: Targets{
			Ring:      Target{Context: "callscreen-ring", Priority: 1},
			Voicemail: Target{Context: "callscreen-voicemail", Priority: 1},
		},
		Prompts: Prompts{
			Language:        "en",
			NumberRequest:   "callscreen/callscreen-number-request",
			Reject:          "callscreen/callscreen-reject",
			RecordingNotice: "callscreen/callscreen-recording-notice",
			PressDigit:      "callscreen/callscreen-press-digit",
			WrongDigit:      "callscreen/callscreen-wrong-digit",
			SayName:         "callscreen/callscreen-say-name",
		},
		Challenge: ChallengeConfig{
			Attempts: 2,
			Timeout:  5 * time.Second,
			Fallback: FallbackVoicemail,
			Remember: 720 * time.Hour,
			MaxName:  3 * time.Second,
			Digits:   "23456789",
		},
		HangupContext: "callscreen-hangup",
		OnError:       OnErrorRing,
	}
}

// Validate checks the profile named name and returns an error naming each
// bad key ("profiles.default.targets.ring.context: required").
func (p *Profile) Validate(name string) error {
	var errs []error
	key := func(k string) string { return "profiles." + name + "." + k }
	bad := func(k, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key(k)}, a...)...))
	}

	for _, t := range []struct {
		name string
		t    Target
	}{{"targets.ring", p.Targets.Ring}, {"targets.voicemail", p.Targets.Voicemail}} {
		switch {
		case t.t.Context == "":
			bad(t.name+".context", "required")
		case !dialplanName(t.t.Context):
			bad(t.name+".context", "%q is not a dialplan context name (letters, digits, - _ . + only)", t.t.Context)
		}
		if t.t.Extension != "" && !dialplanName(t.t.Extension) {
			bad(t.name+".extension", "%q is not an extension (letters, digits, - _ . + * # only)", t.t.Extension)
		}
		if t.t.Priority < 0 {
			bad(t.name+".priority", "%d is negative", t.t.Priority)
		}
	}

	if p.OnError != OnErrorRing && p.OnError != OnErrorVoicemail {
		bad("on_error", "%q is not ring or voicemail", p.OnError)
	}
	if d := p.Challenge.Digits; d == "" || strings.Trim(d, "0123456789") != "" {
		bad("challenge.digits", "%q must be one or more of the digits 0-9", d)
	}

	if l := p.Prompts.Language; l != "" && !languageCode(l) {
		bad("prompts.language", "%q is not a language code such as en, ja or pt_BR", l)
	}
	for _, s := range []struct{ name, v string }{
		{"number_request", p.Prompts.NumberRequest},
		{"number_request_hint", p.Prompts.NumberRequestHint},
		{"reject", p.Prompts.Reject},
		{"recording_notice", p.Prompts.RecordingNotice},
		{"press_digit", p.Prompts.PressDigit},
		{"wrong_digit", p.Prompts.WrongDigit},
		{"say_name", p.Prompts.SayName},
	} {
		if s.v != "" && !soundName(s.v) {
			bad("prompts."+s.name, "%q is not a sound name (a path under Asterisk's sounds directory, without extension)", s.v)
		}
	}
	needed := func(cond bool, prompt, why string) {
		if cond {
			bad("prompts."+prompt, "required when %s", why)
		}
	}
	needed(p.Prompts.NumberRequest == "" && !p.NumberRequestSIP, "number_request", "number_request_sip is false")
	needed(p.Prompts.Reject == "" && p.RejectPrompt, "reject", "reject_prompt is true")
	needed(p.Prompts.PressDigit == "", "press_digit", "a profile can challenge")
	needed(p.Prompts.RecordingNotice == "" && p.Challenge.RecordingNotice, "recording_notice", "challenge.recording_notice is true")
	needed(p.Prompts.SayName == "" && p.Challenge.RecordName, "say_name", "challenge.record_name is true")

	c := p.Challenge
	if c.Attempts < 1 || c.Attempts > 5 {
		bad("challenge.attempts", "%d is outside 1..5", c.Attempts)
	}
	if c.Timeout < time.Second || c.Timeout > 30*time.Second {
		bad("challenge.timeout", "%s is outside 1s..30s", c.Timeout)
	}
	if c.Fallback != FallbackVoicemail && c.Fallback != FallbackReject {
		bad("challenge.fallback", "%q is not voicemail or reject", c.Fallback)
	}
	if c.Remember < 0 {
		bad("challenge.remember", "%s is negative", c.Remember)
	}
	if c.RecordName && (c.MaxName < time.Second || c.MaxName > 10*time.Second) {
		bad("challenge.max_name", "%s is outside 1s..10s", c.MaxName)
	}

	switch {
	case p.NumberRequestSIP && p.HangupContext == "":
		bad("hangup_context", "required when number_request_sip is true")
	case p.HangupContext != "" && !dialplanName(p.HangupContext):
		bad("hangup_context", "%q is not a dialplan context name", p.HangupContext)
	}
	return errors.Join(errs...)
}

// dialplanName reports whether s is safe as a context or extension name.
func dialplanName(s string) bool {
	if s == "" || len(s) > 79 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_.+*#", r):
		default:
			return false
		}
	}
	return true
}

// languageCode reports whether s looks like an Asterisk language code.
func languageCode(s string) bool {
	if len(s) < 2 || len(s) > 10 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// soundName reports whether s is a plausible sound name: path segments of
// safe characters (absolute paths allowed), no "." or ".." segments.
func soundName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, seg := range strings.Split(strings.TrimPrefix(s, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
				return false
			}
		}
	}
	return true
}

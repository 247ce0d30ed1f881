package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// failOpenTimeout bounds the last-resort Continue to the ring target.
const failOpenTimeout = 3 * time.Second

// SIP433 is the extension Act continues to in Profile.HangupContext to
// refuse a withheld call with 433 Anonymity Disallowed.
const SIP433 = "433"

// Result is what Act did with a call: the fields of screening.Record that
// the flow decides, and whether the caller should be remembered.
type Result struct {
	Taken   screening.Action
	Outcome screening.Outcome
	Detail  string
	// AnswerDelay is how long a challenged caller took to press the right
	// key, measured from the start of the prompt.
	AnswerDelay time.Duration
	// Remember is set when the caller passed a challenge: the caller of Act
	// should put an allow entry for Profile.Challenge.Remember.
	Remember bool
	// NameFile is the caller's recorded name, if one was recorded.
	NameFile string
}

// ActOptions are the optional dependencies of Act.
type ActOptions struct {
	// Logger receives the few problems Act handles itself (a failed name
	// recording); nil discards them.
	Logger *slog.Logger
	// Digit returns the challenge digit; nil draws it at random from the
	// profile's challenge.digits (1 to 9 when that is empty) with the
	// process's randomly seeded generator.
	Digit func() int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Act carries out the verdict on the channel with the profile's targets
// and prompts, and reports what happened. It never leaves the call
// without a way on: a failure of the channel fails open, continuing the
// call to the ring target. Act carries out v.Enforced (v.Action when
// Enforced is empty), so monitor mode rings.
func Act(ctx context.Context, ch Channel, v screening.Verdict, p Profile, o ActOptions) Result {
	a := &actor{ch: ch, v: &v, p: &p, o: o}
	if a.o.Logger == nil {
		a.o.Logger = slog.New(slog.DiscardHandler)
	}
	if a.o.Digit == nil {
		a.o.Digit = func() int { return drawDigit(p.Challenge.Digits) }
	}
	if a.o.Now == nil {
		a.o.Now = time.Now
	}
	action := v.Enforced
	if action == "" {
		action = v.Action
	}
	var (
		res Result
		err error
	)
	switch action {
	case screening.Ring:
		res, err = a.cont(ctx, screening.Ring, p.Targets.Ring, screening.OutcomeRang)
	case screening.Voicemail:
		res, err = a.cont(ctx, screening.Voicemail, p.Targets.Voicemail, screening.OutcomeVoicemail)
	case screening.NumberRequest:
		res, err = a.numberRequest(ctx)
	case screening.Challenge:
		res, err = a.challenge(ctx)
	case screening.Reject:
		res, err = a.reject(ctx)
	case screening.Drop:
		res, err = a.drop(ctx)
	default:
		err = fmt.Errorf("unknown action %q", action)
	}
	if err == nil {
		return res
	}
	if errors.Is(err, ErrHangup) {
		res.Outcome = screening.OutcomeAbandoned
		res.Detail = joinDetail(res.Detail, "hangup during "+a.step)
		if res.Taken == "" {
			res.Taken = action
		}
		return res
	}
	return a.failOpen(ctx, res, err)
}

// drawDigit returns a random digit from set, or from 1 to 9 when set is
// empty.
func drawDigit(set string) int {
	if set == "" {
		set = "123456789"
	}
	return int(set[rand.IntN(len(set))] - '0')
}

// actor holds one run of Act.
type actor struct {
	ch Channel
	v  *screening.Verdict
	p  *Profile
	o  ActOptions
	// step names what the flow was doing, for the detail of an abandoned
	// or failed call.
	step string
}

// setVars sets the verdict variables, extra ones, and the language when
// prompts will play.
func (a *actor) setVars(ctx context.Context, taken screening.Action, prompts bool, extra map[string]string) error {
	a.step = "set variables"
	vars := verdictVars(a.v, taken)
	if prompts && a.p.Prompts.Language != "" {
		vars[VarLanguage] = Sanitize(a.p.Prompts.Language)
	}
	for k, v := range extra {
		vars[k] = Sanitize(v)
	}
	if err := a.ch.SetVars(ctx, vars); err != nil {
		return fmt.Errorf("set variables: %w", err)
	}
	return nil
}

// cont sets the variables and continues to t.
func (a *actor) cont(ctx context.Context, taken screening.Action, t Target, out screening.Outcome) (Result, error) {
	res := Result{Taken: taken, Outcome: out}
	if err := a.setVars(ctx, taken, false, nil); err != nil {
		return res, err
	}
	a.step = "continue"
	if err := a.ch.Continue(ctx, t); err != nil {
		return res, fmt.Errorf("continue to %s: %w", t.Context, err)
	}
	return res, nil
}

// numberRequest refuses a withheld call with SIP 433, or answers it, plays
// the Number Request announcement and hangs up.
func (a *actor) numberRequest(ctx context.Context) (Result, error) {
	res := Result{Taken: screening.NumberRequest}
	if a.p.NumberRequestSIP {
		res.Outcome, res.Detail = screening.OutcomeRejected, "SIP 433"
		if err := a.setVars(ctx, screening.NumberRequest, false, nil); err != nil {
			return res, err
		}
		a.step = "continue"
		t := Target{Context: a.p.HangupContext, Extension: SIP433, Priority: 1}
		if err := a.ch.Continue(ctx, t); err != nil {
			return res, fmt.Errorf("continue to %s for SIP 433: %w", t.Context, err)
		}
		return res, nil
	}
	res.Outcome = screening.OutcomeAnnounced
	if err := a.setVars(ctx, screening.NumberRequest, true, nil); err != nil {
		return res, err
	}
	sounds := []string{a.p.Prompts.NumberRequest}
	if h := a.p.Prompts.NumberRequestHint; h != "" {
		sounds = append(sounds, h)
	}
	if err := a.announce(ctx, sounds...); err != nil {
		return res, err
	}
	return res, nil
}

// announce answers, plays sounds and hangs up normally.
func (a *actor) announce(ctx context.Context, sounds ...string) error {
	a.step = "answer"
	if err := a.ch.Answer(ctx); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	return a.playAndHangup(ctx, sounds...)
}

// playAndHangup plays sounds on an answered call and hangs up normally.
func (a *actor) playAndHangup(ctx context.Context, sounds ...string) error {
	a.step = "prompt"
	for _, sound := range sounds {
		if err := a.ch.Play(ctx, sound); err != nil {
			return fmt.Errorf("play %s: %w", sound, err)
		}
	}
	a.step = "hangup"
	if err := a.ch.Hangup(ctx, CauseNormal); err != nil {
		return fmt.Errorf("hangup: %w", err)
	}
	return nil
}

// reject refuses the call unanswered, or answers it, plays the reject
// announcement and hangs up when the profile asks for the announcement.
func (a *actor) reject(ctx context.Context) (Result, error) {
	res := Result{Taken: screening.Reject, Outcome: screening.OutcomeRejected}
	if a.p.RejectPrompt {
		res.Outcome = screening.OutcomeAnnounced
	}
	if err := a.setVars(ctx, screening.Reject, a.p.RejectPrompt, nil); err != nil {
		return res, err
	}
	if a.p.RejectPrompt {
		return res, a.announce(ctx, a.p.Prompts.Reject)
	}
	a.step = "hangup"
	if err := a.ch.Hangup(ctx, CauseRejected); err != nil {
		return res, fmt.Errorf("hangup: %w", err)
	}
	return res, nil
}

// drop hangs up without answering.
func (a *actor) drop(ctx context.Context) (Result, error) {
	res := Result{Taken: screening.Drop, Outcome: screening.OutcomeDropped}
	if err := a.setVars(ctx, screening.Drop, false, nil); err != nil {
		return res, err
	}
	a.step = "hangup"
	if err := a.ch.Hangup(ctx, CauseUnallocated); err != nil {
		return res, fmt.Errorf("hangup: %w", err)
	}
	return res, nil
}

// challenge answers and asks the caller to press a random digit; a caller
// who passes rings (optionally after recording their name), one who fails
// gets the fallback.
func (a *actor) challenge(ctx context.Context) (Result, error) {
	c := a.p.Challenge
	res := Result{Taken: screening.Challenge, Outcome: screening.OutcomeChallengeFailed}
	// The variables are set before the first prompt so that a caller who
	// hangs up during it leaves a CDR that says why.
	if err := a.setVars(ctx, screening.Challenge, true, nil); err != nil {
		return res, err
	}
	a.step = "answer"
	if err := a.ch.Answer(ctx); err != nil {
		return res, fmt.Errorf("answer: %w", err)
	}
	if c.RecordingNotice && a.p.Prompts.RecordingNotice != "" {
		a.step = "recording notice"
		if err := a.ch.Play(ctx, a.p.Prompts.RecordingNotice); err != nil {
			return res, fmt.Errorf("play %s: %w", a.p.Prompts.RecordingNotice, err)
		}
	}
	attempts := max(c.Attempts, 1)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultProfile().Challenge.Timeout
	}
	passed := false
	for i := 1; i <= attempts && !passed; i++ {
		want := strconv.Itoa(a.o.Digit())
		a.step = "challenge prompt"
		start := a.o.Now()
		got, err := a.ch.PlayAndRead(ctx, []string{a.p.Prompts.PressDigit, "digits/" + want}, timeout)
		if err != nil {
			return res, fmt.Errorf("challenge attempt %d: %w", i, err)
		}
		switch got {
		case want:
			passed = true
			res.AnswerDelay = a.o.Now().Sub(start)
			res.Detail = fmt.Sprintf("pressed %s after %s", got, res.AnswerDelay.Round(100*time.Millisecond))
		case "":
			res.Detail = "no answer"
		default:
			res.Detail = "wrong digit " + Sanitize(got)
			if i < attempts && a.p.Prompts.WrongDigit != "" {
				a.step = "wrong digit prompt"
				if err := a.ch.Play(ctx, a.p.Prompts.WrongDigit); err != nil {
					return res, fmt.Errorf("play %s: %w", a.p.Prompts.WrongDigit, err)
				}
			}
		}
		if attempts > 1 && !passed {
			res.Detail = fmt.Sprintf("%s (attempt %d of %d)", res.Detail, i, attempts)
		}
	}

	if !passed {
		extra := map[string]string{VarChallenge: "failed"}
		if c.Fallback == FallbackReject {
			// The call is already answered: reject means the optional
			// announcement, then a normal hangup.
			r, err := a.rejectAnswered(ctx, extra)
			r.Detail = joinDetail(res.Detail, r.Detail)
			return r, err
		}
		r, err := a.contExtra(ctx, screening.Voicemail, a.p.Targets.Voicemail, extra)
		r.Outcome, r.Detail = screening.OutcomeChallengeFailed, res.Detail
		return r, err
	}

	res.Outcome, res.Remember = screening.OutcomeChallengePassed, c.Remember > 0
	extra := map[string]string{VarChallenge: "passed"}
	if c.RecordName && a.p.Prompts.SayName != "" {
		a.step = "name prompt"
		if err := a.ch.Play(ctx, a.p.Prompts.SayName); err != nil {
			return res, fmt.Errorf("play %s: %w", a.p.Prompts.SayName, err)
		}
		a.step = "name recording"
		file, err := a.ch.RecordName(ctx, "callscreen-name-"+a.v.CallID, c.MaxName)
		switch {
		case errors.Is(err, ErrHangup):
			return res, fmt.Errorf("record name: %w", err)
		case err != nil:
			// The caller passed: a missing name must not cost them the call.
			a.o.Logger.WarnContext(ctx, "name recording failed; ringing without it", "err", err)
		default:
			res.NameFile = file
			extra[VarNameFile] = file
		}
	}
	r, err := a.contExtra(ctx, screening.Ring, a.p.Targets.Ring, extra)
	res.Taken = r.Taken
	return res, err
}

// contExtra is cont with extra variables.
func (a *actor) contExtra(ctx context.Context, taken screening.Action, t Target, extra map[string]string) (Result, error) {
	res := Result{Taken: taken}
	if err := a.setVars(ctx, taken, false, extra); err != nil {
		return res, err
	}
	a.step = "continue"
	if err := a.ch.Continue(ctx, t); err != nil {
		return res, fmt.Errorf("continue to %s: %w", t.Context, err)
	}
	return res, nil
}

// rejectAnswered ends an answered call that failed its challenge.
func (a *actor) rejectAnswered(ctx context.Context, extra map[string]string) (Result, error) {
	res := Result{Taken: screening.Reject, Outcome: screening.OutcomeChallengeFailed}
	if err := a.setVars(ctx, screening.Reject, false, extra); err != nil {
		return res, err
	}
	if a.p.RejectPrompt && a.p.Prompts.Reject != "" {
		return res, a.playAndHangup(ctx, a.p.Prompts.Reject)
	}
	a.step = "hangup"
	if err := a.ch.Hangup(ctx, CauseRejected); err != nil {
		return res, fmt.Errorf("hangup: %w", err)
	}
	return res, nil
}

// failOpen continues the call to the ring target after a failure (the
// voicemail target when the profile fails closed), with a context of its
// own so that an expired call deadline does not stop it.
func (a *actor) failOpen(ctx context.Context, res Result, cause error) Result {
	res.Outcome = screening.OutcomeError
	res.Detail = joinDetail(res.Detail, cause.Error())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failOpenTimeout)
	defer cancel()
	taken, target := screening.Ring, a.p.Targets.Ring
	if a.p.OnError == OnErrorVoicemail {
		taken, target = screening.Voicemail, a.p.Targets.Voicemail
	}
	vars := verdictVars(a.v, taken)
	// Best effort: the variables explain the ring, but the Continue is
	// what matters.
	_ = a.ch.SetVars(ctx, vars)
	if err := a.ch.Continue(ctx, target); err != nil {
		if errors.Is(err, ErrHangup) {
			res.Outcome = screening.OutcomeAbandoned
		}
		res.Detail = joinDetail(res.Detail, "fail-open continue: "+err.Error())
		return res
	}
	res.Taken = taken
	return res
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

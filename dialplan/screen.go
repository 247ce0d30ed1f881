package dialplan

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// callChannel is a live call that can both be read (facts) and acted on.
type callChannel interface {
	Channel
	VarReader
}

// screener is what both front ends share to screen a call: the engine,
// the profiles and where the results go.
type screener struct {
	evaluator     Evaluator
	profiles      func(name string) (Profile, bool)
	recorder      Recorder
	rememberer    Rememberer
	now           func() time.Time
	gatherTimeout time.Duration
}

// screen screens one call on ch: gather the facts (base holds what the
// front end already knows), evaluate, act, remember a caller who passed the
// challenge, and record. ARI and FastAGI both call it, so the call log
// cannot tell the modes apart except by Mode.
func (s screener) screen(ctx context.Context, log *slog.Logger, ch callChannel, mode screening.Mode, base screening.Facts, profile string) {
	start := base.Time
	rec := screening.Record{ID: base.ID, Time: start, Mode: mode}
	p := lookupProfile(s.profiles, profile)
	defer func() {
		// The engine is pure Go and should not panic; if it does, the call
		// still rings.
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "panic while screening; failing open", "panic", r)
			res := (&actor{ch: ch, v: &rec.Verdict, p: &p}).failOpen(ctx, Result{}, fmt.Errorf("panic: %v", r))
			rec.Taken, rec.Outcome, rec.Detail = res.Taken, res.Outcome, res.Detail
			rec.Handling = s.now().Sub(start)
			s.write(rec)
		}
	}()

	facts, err := Gather(ctx, ch, base, GatherOptions{Timeout: s.gatherTimeout})
	if err != nil {
		log.DebugContext(ctx, "some facts could not be read", "err", err)
	}
	rec.Facts = facts

	t0 := s.now()
	v := s.evaluator.Evaluate(&facts, profile)
	rec.Decision = s.now().Sub(t0)
	if v.CallID == "" {
		v.CallID = base.ID
	}
	rec.Verdict = v
	if v.Profile != "" && v.Profile != profile {
		p = lookupProfile(s.profiles, v.Profile)
		log = log.With("resolved_profile", v.Profile)
	}

	res := Act(ctx, ch, v, p, ActOptions{Logger: log, Now: s.now})
	rec.Taken, rec.Outcome, rec.Detail, rec.AnswerDelay = res.Taken, res.Outcome, res.Detail, res.AnswerDelay
	rec.Handling = s.now().Sub(start)

	if res.Remember {
		rememberCaller(ctx, s.rememberer, log, s.now(), v, p)
	}
	s.write(rec)
	lvl := slog.LevelInfo
	if res.Outcome == screening.OutcomeError {
		lvl = slog.LevelWarn
	}
	log.Log(ctx, lvl, "call screened",
		"action", v.Action, "taken", res.Taken, "outcome", res.Outcome, "detail", res.Detail,
		"score", v.Score, "reasons", v.Reasons(), "decision", rec.Decision, "handling", rec.Handling)
}

// write hands a finished call's record to the recorder, if any.
func (s screener) write(r screening.Record) {
	if s.recorder != nil {
		s.recorder.Write(r)
	}
}

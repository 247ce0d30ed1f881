package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// Evaluator decides a call: the screening engine.
type Evaluator interface {
	Evaluate(f *screening.Facts, profile string) screening.Verdict
}

// Recorder writes the call log.
type Recorder interface {
	Write(screening.Record)
}

// Rememberer persists list entries: callers who passed a challenge.
type Rememberer interface {
	Remember(ctx context.Context, e screening.Entry) error
}

// HandlerOptions configure a Handler. Evaluator is required; everything
// else has a default.
type HandlerOptions struct {
	Evaluator Evaluator
	// Profiles returns the Asterisk side of a profile by name; nil, or a
	// name it does not know, means DefaultProfile().
	Profiles func(name string) (Profile, bool)
	// Recorder receives one record per call; nil discards them.
	Recorder Recorder
	// Rememberer receives an allow entry for each caller who passes a
	// challenge, and for each expected callback; nil forgets them.
	Rememberer Rememberer
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// CallTimeout is the hard deadline of one call in callscreen, prompts
	// included; after it the call is continued to its ring target. [60s]
	CallTimeout time.Duration
	// GatherTimeout bounds reading the facts. [500ms]
	GatherTimeout time.Duration
	// DrainTimeout is how long a front end waits for calls in flight
	// after it is told to stop before failing them open. [10s]
	DrainTimeout time.Duration

	// IDPrefix goes in front of each call's id (Asterisk's uniqueid,
	// epoch.sequence) in its record and SCREEN_ID, unless the id starts
	// with it already (Asterisk's systemname). Servers sharing one call
	// log need it: two Asterisk servers hand out the same uniqueids, and
	// the log keeps one record per id. [none]
	IDPrefix string
}

// Handler screens calls for a front end: for each call it gathers the
// facts, evaluates them, acts on the verdict, remembers a caller who
// passed the challenge and records the call. It counts the calls in
// flight so that the front end can drain them, and it is the one place
// that continues a call unscreened (fail open). The ARI application
// (Stasis) and the FastAGI server are transports around a Handler, so the
// call log cannot tell the modes apart except by Mode.
type Handler struct {
	o HandlerOptions

	mu       sync.Mutex
	inflight int
	idle     chan struct{} // closed when inflight drops to 0, while draining
	draining bool
}

// NewHandler returns a Handler with o, defaults filled in.
func NewHandler(o HandlerOptions) *Handler {
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defDur(&o.CallTimeout, 60*time.Second)
	defDur(&o.GatherTimeout, 500*time.Millisecond)
	defDur(&o.DrainTimeout, 10*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o}
}

// check reports unusable options.
func (h *Handler) check() error {
	if h == nil || h.o.Evaluator == nil {
		return errors.New("dialplan: HandlerOptions.Evaluator is required")
	}
	return nil
}

func (h *Handler) now() time.Time { return h.o.Now() }

// callID is the id of a call's record and SCREEN_ID: the front end's id
// with IDPrefix.
func (h *Handler) callID(id string) string {
	if h.o.IDPrefix == "" || strings.HasPrefix(id, h.o.IDPrefix) {
		return id
	}
	return h.o.IDPrefix + id
}

// callCtx is what a front end knows of a call before screening it.
type callCtx struct {
	mode    screening.Mode
	facts   screening.Facts // ID, Time and what the transport already read
	profile string
}

// callChannel is a live call that can both be read (facts) and acted on.
type callChannel interface {
	Channel
	VarReader
}

// screen screens one call on ch within CallTimeout: gather the facts,
// evaluate, act, remember a caller who passed the challenge, and record.
func (h *Handler) screen(ctx context.Context, log *slog.Logger, ch callChannel, c callCtx) {
	ctx, cancel := context.WithTimeout(ctx, h.o.CallTimeout)
	defer cancel()
	c.facts.ID = h.callID(c.facts.ID)
	start := c.facts.Time
	rec := screening.Record{ID: c.facts.ID, Time: start, Mode: c.mode}
	p := h.profile(c.profile)
	defer func() {
		// The engine is pure Go and should not panic; if it does, the call
		// still rings.
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "panic while screening; failing open", "panic", r)
			res := (&actor{ch: ch, v: &rec.Verdict, p: &p}).failOpen(ctx, Result{}, fmt.Errorf("panic: %v", r))
			rec.Taken, rec.Outcome, rec.Detail = res.Taken, res.Outcome, res.Detail
			rec.Handling = h.now().Sub(start)
			h.write(rec)
		}
	}()

	facts, err := Gather(ctx, ch, c.facts, GatherOptions{Timeout: h.o.GatherTimeout})
	if err != nil {
		log.DebugContext(ctx, "some facts could not be read", "err", err)
	}
	rec.Facts = facts

	t0 := h.now()
	v := h.o.Evaluator.Evaluate(&facts, c.profile)
	rec.Decision = h.now().Sub(t0)
	if v.CallID == "" {
		v.CallID = c.facts.ID
	}
	rec.Verdict = v
	if v.Profile != "" && v.Profile != c.profile {
		p = h.profile(v.Profile)
		log = log.With("resolved_profile", v.Profile)
	}

	res := Act(ctx, ch, v, p, ActOptions{Logger: log, Now: h.o.Now})
	rec.Taken, rec.Outcome, rec.Detail, rec.AnswerDelay = res.Taken, res.Outcome, res.Detail, res.AnswerDelay
	rec.Handling = h.now().Sub(start)

	if res.Remember {
		h.rememberCaller(ctx, log, v, p)
	}
	h.write(rec)
	lvl := slog.LevelInfo
	if res.Outcome == screening.OutcomeError {
		lvl = slog.LevelWarn
	}
	log.Log(ctx, lvl, "call screened",
		"action", v.Action, "taken", res.Taken, "outcome", res.Outcome, "detail", res.Detail,
		"score", v.Score, "reasons", v.Reasons(), "decision", rec.Decision, "handling", rec.Handling)
}

// passThrough continues a call to its ring target without screening it
// (the front end is stopping) and records why. The verdict variables say
// that it rang, for a dialplan that reads them.
func (h *Handler) passThrough(ctx context.Context, log *slog.Logger, ch Channel, c callCtx, why string) {
	c.facts.ID = h.callID(c.facts.ID)
	start := c.facts.Time
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failOpenTimeout)
	defer cancel()
	p := h.profile(c.profile)
	rec := screening.Record{
		ID: c.facts.ID, Time: start, Mode: c.mode,
		Facts:   c.facts,
		Verdict: screening.Verdict{CallID: c.facts.ID, Profile: c.profile, Action: screening.Ring, Enforced: screening.Ring, Reason: why},
		Taken:   screening.Ring, Outcome: screening.OutcomeRang, Detail: why,
	}
	// Best effort, as in failOpen: the Continue is what matters.
	_ = ch.SetVars(ctx, verdictVars(&rec.Verdict, screening.Ring))
	if err := ch.Continue(ctx, p.Targets.Ring); err != nil {
		rec.Outcome, rec.Detail = screening.OutcomeError, why+"; continue: "+err.Error()
		log.ErrorContext(ctx, "cannot continue call", "err", err)
	}
	rec.Handling = h.now().Sub(start)
	h.write(rec)
}

// profile returns the Asterisk side of the named profile, or
// DefaultProfile().
func (h *Handler) profile(name string) Profile {
	if h.o.Profiles != nil && name != "" {
		if p, ok := h.o.Profiles(name); ok {
			return p
		}
	}
	return DefaultProfile()
}

// write hands a finished call's record to the recorder, if any.
func (h *Handler) write(r screening.Record) {
	if h.o.Recorder != nil {
		h.o.Recorder.Write(r)
	}
}

// rememberCaller puts the caller who passed a challenge on the allow list
// for the profile's challenge.remember.
func (h *Handler) rememberCaller(ctx context.Context, log *slog.Logger, v screening.Verdict, p Profile) {
	if h.o.Rememberer == nil || p.Challenge.Remember <= 0 {
		return
	}
	if err := screening.ValidateEntryNumber(v.Caller); err != nil {
		log.DebugContext(ctx, "challenge passed by a caller without an E.164 number; not remembered", "err", err)
		return
	}
	now := h.now()
	e := screening.Entry{
		Kind:    screening.Allow,
		Number:  v.Caller,
		Expires: now.Add(p.Challenge.Remember),
		Source:  screening.SourceChallenge,
		Reason:  "passed the challenge on call " + v.CallID,
		Created: now,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := h.o.Rememberer.Remember(ctx, e); err != nil {
		log.WarnContext(ctx, "cannot remember the caller who passed the challenge", "number", v.Caller, "err", err)
	}
}

// begin counts a call in flight unless limit (> 0) calls already are. It
// reports whether the front end is draining: the call is then passed
// through unscreened. Every begin that returns ok is paired with an end.
func (h *Handler) begin(limit int) (draining, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if limit > 0 && h.inflight >= limit {
		return h.draining, false
	}
	h.inflight++
	return h.draining, true
}

// end counts a call out.
func (h *Handler) end() {
	h.mu.Lock()
	h.inflight--
	if h.inflight == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	h.mu.Unlock()
}

// inFlight returns how many calls are in flight.
func (h *Handler) inFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inflight
}

// drain marks the handler as draining (new calls are passed through), waits
// up to DrainTimeout for the calls in flight, then cancels them with
// cancelCalls (they fail open) and waits a little more.
func (h *Handler) drain(ctx context.Context, log *slog.Logger, cancelCalls context.CancelFunc) {
	h.mu.Lock()
	h.draining = true
	idle := make(chan struct{})
	if h.inflight == 0 {
		close(idle)
	} else {
		h.idle = idle
	}
	h.mu.Unlock()

	t := time.NewTimer(h.o.DrainTimeout)
	defer t.Stop()
	select {
	case <-idle:
		return
	case <-t.C:
	}
	log.WarnContext(ctx, "calls still in flight after the drain timeout; failing them open", "in_flight", h.inFlight())
	cancelCalls()
	select {
	case <-idle:
	case <-time.After(failOpenTimeout + time.Second):
	}
}

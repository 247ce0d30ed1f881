package dialplan

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// FastAGIScript is the script that screens a call.
const FastAGIScript = "screen"

// CallbackScript is the script an outbound route runs to expect a
// callback from the number it dials:
// AGI(agi://127.0.0.1:4573/callback?number=${EXTEN}). It answers at once
// and never fails the outbound call.
const CallbackScript = "callback"

// Callbacks turns a number the business dialled into the allow entry of an
// expected callback (screening.Engine.ExpectCallback). ok is false when
// nothing is to be written.
type Callbacks interface {
	ExpectCallback(number, profile string, now time.Time) (e screening.Entry, ok bool, err error)
}

// EmergencyCallbacks is implemented by Callbacks that open an emergency
// callback window when the number dialled is an emergency number
// (screening.Engine.EmergencyCallback). ok is false for any other number.
type EmergencyCallbacks interface {
	EmergencyCallback(number, profile, callID string, now time.Time) (c screening.EmergencyCall, ok bool)
}

// EmergencyKeeper keeps the emergency callback windows the callback script
// opens, so that a restart within one does not close it (serve reopens
// them from the store when it starts).
type EmergencyKeeper interface {
	KeepEmergency(ctx context.Context, c screening.EmergencyCall) error
}

// FastAGIOptions configures FastAGI's transport; what screening a call
// needs is the Handler's. Everything has a default.
type FastAGIOptions struct {
	// Callbacks serves the callback script; nil logs and ignores it.
	Callbacks Callbacks
	// Emergencies keeps the emergency callback windows opened; nil keeps
	// them in memory only.
	Emergencies EmergencyKeeper
	// Logger is the logger; nil discards.
	Logger *slog.Logger

	// ReadTimeout bounds reading the AGI environment after a connection
	// is accepted; a peer that sends none in time is disconnected. [2s]
	ReadTimeout time.Duration
	// RecordingDir is where name recordings are written, as Asterisk
	// sees it. [/var/spool/asterisk/recording]
	RecordingDir string

	// Key, when set, is the shared secret every session must carry as
	// the "key" query parameter of its script
	// (agi://127.0.0.1:4573/screen?profile=p&key=...). A session without
	// it is closed before anything is read from or written for it: it
	// screens nothing, records nothing and expects no callback. The key is
	// never logged.
	Key string
	// MaxSessions caps the sessions in progress; a connection beyond it is
	// closed at once, and Asterisk's dialplan then fails open (rings).
	// [1000]
	MaxSessions int
	// CallbackRate caps the callback script: at most this many expected
	// callbacks a minute, with bursts of as many; more are ignored and
	// logged. [60]
	CallbackRate int
}

// FastAGI is the FastAGI front end: it screens every call the dialplan
// hands to AGI(agi://host:4573/screen?profile=<p>) and leaves the verdict
// in channel variables for the dialplan to carry out (see VarAction,
// VarContext, VarHangupCause).
type FastAGI struct {
	h   *Handler
	o   FastAGIOptions
	log *slog.Logger

	arrays arrayWrites

	callbacks *tokenBucket
	// refused counts sessions closed without screening: over MaxSessions,
	// or without the key.
	refusedFull, refusedKey atomic.Uint64
}

// NewFastAGI returns a FastAGI server screening its calls with h, with
// opts' defaults filled in.
func NewFastAGI(h *Handler, opts FastAGIOptions) *FastAGI {
	o := opts
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defDur(&o.ReadTimeout, 2*time.Second)
	if o.RecordingDir == "" {
		o.RecordingDir = "/var/spool/asterisk/recording"
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 1000
	}
	if o.CallbackRate <= 0 {
		o.CallbackRate = 60
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &FastAGI{h: h, o: o, log: o.Logger, callbacks: newTokenBucket(o.CallbackRate, time.Minute, h.now)}
}

// Refused returns how many sessions were closed without screening
// because MaxSessions were in progress (full) or because they did not
// carry the key (unauthenticated).
func (a *FastAGI) Refused() (full, unauthenticated uint64) {
	return a.refusedFull.Load(), a.refusedKey.Load()
}

// Serve accepts FastAGI sessions on ln and screens each in its own
// goroutine until ctx is cancelled. The caller listens (so that a port
// clash fails start-up); Serve closes ln when it returns. On
// cancellation it keeps accepting but screens no new call (each is
// continued straight to its ring target), waits up to the Handler's
// DrainTimeout for calls in flight, fails the rest open, closes ln and
// returns nil. It returns an error for unusable options or when ln fails.
// Call it once.
func (a *FastAGI) Serve(ctx context.Context, ln net.Listener) error {
	if err := a.h.check(); err != nil {
		ln.Close()
		return err
	}
	calls, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()

	acceptErr := make(chan error, 1)
	go func() { acceptErr <- a.accept(calls, ln) }()
	a.log.InfoContext(ctx, "FastAGI listening", "addr", ln.Addr().String())

	var err error
	select {
	case <-ctx.Done():
		a.log.InfoContext(ctx, "shutting down; new FastAGI calls ring unscreened", "in_flight", a.h.inFlight())
	case err = <-acceptErr:
		err = fmt.Errorf("FastAGI listener: %w", err)
		a.log.ErrorContext(ctx, "FastAGI listener failed; failing calls in flight open", "err", err)
	}
	a.h.drain(ctx, a.log, cancelCalls)
	ln.Close()
	if err == nil {
		<-acceptErr
	}
	return err
}

// accept runs the accept loop until ln is closed. Accept errors other
// than a closed listener (too many open files, ...) are retried with a
// capped backoff, as net/http does.
func (a *FastAGI) accept(calls context.Context, ln net.Listener) error {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			a.log.WarnContext(calls, "FastAGI accept failed; retrying", "retry_in", backoff, "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		a.start(calls, conn)
	}
}

// start hands one connection to its own goroutine: nothing read from a
// peer may hold up the accept loop.
func (a *FastAGI) start(calls context.Context, conn net.Conn) {
	draining, ok := a.h.begin(a.o.MaxSessions)
	if !ok {
		// Closed before Asterisk's environment is read: AGI() fails and
		// the dialplan rings (CALLSCREEN_FAIL_MODE). Counted first, so
		// that the count already holds when the peer sees the close.
		n := a.refusedFull.Add(1)
		conn.Close()
		if n&(n-1) == 0 { // 1, 2, 4, ...: no log flood
			a.log.WarnContext(calls, "FastAGI sessions at agi.max_sessions; connection closed, the call rings unscreened", "max_sessions", a.o.MaxSessions, "refused", n)
		}
		return
	}
	go func() {
		growStack()
		defer a.h.end()
		a.serveConn(calls, conn, draining)
	}()
}

// agiRequest is what the AGI environment says about a call.
type agiRequest struct {
	script, profile string
	id, channel     string
	number, name    string
	did             string
	// dialled is the callback script's number: its "number" query
	// parameter, else the extension.
	dialled string
	// key is the script's "key" query parameter (FastAGIOptions.Key).
	key string
}

// maxProfileName bounds a profile name taken from the request.
const maxProfileName = 64

// parseAGIRequest reads the request from the AGI environment. The
// profile is the "profile" query parameter of the script
// (agi_network_script "screen?profile=x"), else the first AGI argument.
// ok is false when the environment is not Asterisk's.
func parseAGIRequest(env map[string]string) (r agiRequest, ok bool) {
	if env["agi_request"] == "" && env["agi_channel"] == "" {
		return r, false
	}
	script, query, _ := strings.Cut(env["agi_network_script"], "?")
	r.script = strings.Trim(script, "/")
	q, _ := url.ParseQuery(query) // what parses is kept
	r.profile = q.Get("profile")
	r.key = q.Get("key")
	if r.profile == "" {
		r.profile = env["agi_arg_1"]
	}
	r.profile = truncate(r.profile, maxProfileName)
	r.id = truncate(env["agi_uniqueid"], maxFact)
	r.channel = truncate(env["agi_channel"], maxFact)
	r.did = truncate(env["agi_extension"], maxFact)
	r.dialled = truncate(q.Get("number"), maxFact)
	if r.dialled == "" {
		r.dialled = r.did
	}
	// Asterisk writes "unknown" for a caller ID that is not set; leave it
	// to Gather, which reads CALLERID() and so sees the same as ARI.
	if v := env["agi_callerid"]; v != "unknown" {
		r.number = truncate(v, maxFact)
	}
	if v := env["agi_calleridname"]; v != "unknown" {
		r.name = truncate(v, maxFact)
	}
	return r, true
}

// serveConn runs one FastAGI session. Every session that reaches Asterisk
// ends with SCREEN_ACTION set (ring when callscreen failed), so that the
// dialplan never waits on a verdict that will not come.
func (a *FastAGI) serveConn(calls context.Context, conn net.Conn, draining bool) {
	defer conn.Close()
	start := a.h.now()
	log := a.log.With("remote", conn.RemoteAddr().String())
	ch, env, err := openAGI(conn, a.o.ReadTimeout, a.o.RecordingDir)
	if err == nil {
		ch.arrays = &a.arrays
	}
	if err != nil {
		// Port scanners and health checks connect and send nothing.
		log.DebugContext(calls, "FastAGI connection without an AGI environment; closed", "err", err)
		return
	}
	req, ok := parseAGIRequest(env)
	if !ok {
		log.WarnContext(calls, "FastAGI connection did not send an Asterisk AGI environment; closed", "keys", len(env))
		return
	}
	if !a.keyOK(req.key) {
		// Nothing is answered: a real Asterisk with a wrong key fails
		// open (AGISTATUS=FAILURE, the dialplan rings).
		n := a.refusedKey.Add(1)
		if n&(n-1) == 0 { // 1, 2, 4, ...: no log flood
			log.WarnContext(calls, "FastAGI session without the right agi.key; closed, nothing screened or recorded", "script", req.script, "refused", n)
		}
		return
	}
	if req.id == "" {
		req.id = newID("callscreen-agi-")
	}
	ch.did = req.did
	log = log.With("call", req.id, "caller", req.number, "profile", req.profile, "channel", req.channel)
	if req.script == CallbackScript {
		// An outbound call: it sets nothing and must not wait for the store.
		conn.Close()
		a.expectCallback(calls, log, req)
		return
	}
	defer a.ensureAction(calls, log, ch)

	switch {
	case req.script != FastAGIScript:
		log.WarnContext(calls, "unknown FastAGI script; the call rings unscreened", "script", req.script, "want", FastAGIScript+" or "+CallbackScript)
		return
	case draining:
		a.h.passThrough(calls, log, ch, req.call(start), "callscreen stopping")
		return
	}
	a.h.screen(calls, log, ch, req.call(start))
}

// keyOK reports whether a session's key is the configured one (always,
// when none is configured). It compares in constant time.
func (a *FastAGI) keyOK(key string) bool {
	if a.o.Key == "" {
		return true
	}
	got, want := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(a.o.Key))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// ensureAction sets SCREEN_ACTION=ring when nothing set an action: the
// dialplan then rings (fail open).
func (a *FastAGI) ensureAction(calls context.Context, log *slog.Logger, ch *agiChannel) {
	if ch.actionSet.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls), failOpenTimeout)
	defer cancel()
	if err := ch.SetVars(ctx, map[string]string{VarAction: string(screening.Ring)}); err != nil {
		log.DebugContext(ctx, "cannot set SCREEN_ACTION=ring; the dialplan fails open by itself", "err", err)
	}
}

// call returns what the request says about the call.
func (r agiRequest) call(start time.Time) callCtx {
	return callCtx{mode: screening.ModeAGI, profile: r.profile, facts: screening.Facts{
		ID: r.id, Time: start, Number: r.number, Name: r.name, Called: r.did,
	}}
}

// expectCallback records an expected callback from the number an outbound
// call dialled. The AGI session is already over: a failure here is logged
// and costs the outbound call nothing.
func (a *FastAGI) expectCallback(calls context.Context, log *slog.Logger, req agiRequest) {
	log = log.With("script", CallbackScript, "dialled", req.dialled)
	if ec, ok := a.o.Callbacks.(EmergencyCallbacks); ok {
		if c, ok := ec.EmergencyCallback(req.dialled, req.profile, req.id, a.h.now()); ok {
			log.WarnContext(calls, "emergency number dialled: every inbound call rings unscreened until the window closes",
				"emergency_callback", c.String(), "until", c.Until, "profile", c.Profile)
			if a.o.Emergencies != nil {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(calls), 5*time.Second)
				defer cancel()
				if err := a.o.Emergencies.KeepEmergency(ctx, c); err != nil {
					log.ErrorContext(ctx, "emergency callback window not saved: it is open, but a restart of serve before it closes would close it", "until", c.Until, "err", err)
				}
			}
			return
		}
	}
	if a.o.Callbacks == nil || a.h.o.Rememberer == nil {
		log.WarnContext(calls, "callback hook ran but expected callbacks are not configured; ignored")
		return
	}
	if !a.callbacks.take() {
		log.WarnContext(calls, "expected callback not recorded: more than agi.callback_rate callbacks a minute", "callback_rate", a.o.CallbackRate)
		return
	}
	now := a.h.now()
	e, ok, err := a.o.Callbacks.ExpectCallback(req.dialled, req.profile, now)
	switch {
	case err != nil:
		log.WarnContext(calls, "expected callback not recorded", "err", err)
		return
	case !ok:
		log.DebugContext(calls, "dialled number already allowed for longer; nothing to record")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls), 2*time.Second)
	defer cancel()
	if err := a.h.o.Rememberer.Remember(ctx, e); err != nil {
		log.WarnContext(ctx, "expected callback not recorded", "number", e.Number, "err", err)
		return
	}
	log.InfoContext(ctx, "expected callback recorded", "number", e.Number, "until", e.Expires)
}

// tokenBucket allows n events per period, in bursts of up to n.
type tokenBucket struct {
	mu     sync.Mutex
	tokens float64
	n      float64
	period time.Duration
	last   time.Time
	now    func() time.Time
}

func newTokenBucket(n int, period time.Duration, now func() time.Time) *tokenBucket {
	return &tokenBucket{tokens: float64(n), n: float64(n), period: period, now: now}
}

// take reports whether an event may happen now, and counts it if so.
func (b *tokenBucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.last.IsZero() {
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(b.n, b.tokens+b.n*d.Seconds()/b.period.Seconds())
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

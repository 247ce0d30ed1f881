package dialplan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v6"
)

// errSubscriptionClosed: the ARI client was closed under a running flow.
var errSubscriptionClosed = errors.New("ARI event subscription closed")

// hangupGrace is how long a failed request waits for the hangup event
// that may explain it (a request racing the caller's BYE).
const hangupGrace = 250 * time.Millisecond

// requestGrace is how long a request in flight when the channel leaves
// Stasis may still answer: its own success (continue, hangup) is what made
// the channel leave.
const requestGrace = time.Second

// ariChannel is one call in Stasis. It implements Channel and VarReader
// over ari/v6. Every REST request runs under the caller's context (the
// library's HTTP client has no timeout) and returns ErrHangup as soon as
// gone is closed, which the Stasis front end does on StasisEnd or
// ChannelHangupRequest.
type ariChannel struct {
	chans ari.Channel
	// events subscribes to the events of the channel, its playbacks and
	// recordings.
	events ari.Subscriber
	key    *ari.Key
	h      *ari.ChannelHandle
	// did is the extension the call entered Stasis from: the target of
	// Continue when a Target keeps the DID.
	did          string
	gone         <-chan struct{}
	recordingDir string
	arrays       *arrayWrites
}

var (
	_ Channel     = (*ariChannel)(nil)
	_ VarReader   = (*ariChannel)(nil)
	_ BatchReader = (*ariChannel)(nil)
)

func newARIChannel(chans ari.Channel, events ari.Subscriber, key *ari.Key, did string, gone <-chan struct{}, recordingDir string, arrays *arrayWrites) *ariChannel {
	return &ariChannel{
		events:       events,
		arrays:       arrays,
		chans:        chans,
		key:          key,
		h:            chans.Get(key),
		did:          did,
		gone:         gone,
		recordingDir: recordingDir,
	}
}

func (c *ariChannel) isGone() bool {
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

// raw runs the blocking request f under ctx. The request keeps running in
// the background if ctx ends first.
func (c *ariChannel) raw(ctx context.Context, f func() error) error {
	if c.isGone() {
		return ErrHangup
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-c.gone:
	case <-ctx.Done():
		if !c.isGone() {
			return ctx.Err()
		}
	}
	// The channel left Stasis or is being hung up. The request itself may
	// be what did it: a successful continue or hangup makes Asterisk send
	// StasisEnd, which can arrive on the websocket before the request's
	// own answer. That answer, when it comes at once, says what happened.
	t := time.NewTimer(requestGrace)
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w (%v)", ErrHangup, err)
	case <-t.C:
		return ErrHangup
	}
}

// do runs the channel request f and turns "channel not found" and
// failures followed at once by a hangup event into ErrHangup.
func (c *ariChannel) do(ctx context.Context, f func() error) error {
	err := c.raw(ctx, f)
	if err == nil || errors.Is(err, ErrHangup) || ctx.Err() != nil {
		return err
	}
	if httpCode(err) == http.StatusNotFound {
		return fmt.Errorf("%w (%v)", ErrHangup, err)
	}
	t := time.NewTimer(hangupGrace)
	defer t.Stop()
	select {
	case <-c.gone:
		return fmt.Errorf("%w (%v)", ErrHangup, err)
	case <-t.C:
		return err
	}
}

// httpCode returns the HTTP status of an ARI request error, or 0.
func httpCode(err error) int {
	var re interface{ Code() int }
	if errors.As(err, &re) {
		return re.Code()
	}
	return 0
}

// Get reads a variable or dialplan function. Asterisk answers 404 for an
// unset variable and 500 for a function with nothing to read (a missing
// PJSIP header); both are reported as absent. The name is URL-escaped:
// ari/v6 pastes it into the query string as is.
func (c *ariChannel) Get(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := c.raw(ctx, func() error {
		var err error
		v, err = c.chans.GetVariable(c.key, url.QueryEscape(name))
		return err
	})
	switch code := httpCode(err); {
	case err == nil:
		return v, true, nil
	case code == http.StatusNotFound || code == http.StatusInternalServerError:
		return "", false, nil
	default:
		return "", false, err
	}
}

// batchOff is set once Asterisk refused a batch read (EVAL unavailable):
// from then on values are read one request each.
var batchOff atomic.Bool

// GetBatch implements BatchReader: one GET of the dialplan function
// EVAL(batchExpr) instead of one per value (a dozen per call).
func (c *ariChannel) GetBatch(ctx context.Context, names []string) ([]string, []bool, error) {
	if batchOff.Load() {
		return nil, nil, errors.New("batch reads are off")
	}
	var v string
	err := c.raw(ctx, func() error {
		var err error
		v, err = c.chans.GetVariable(c.key, url.QueryEscape("EVAL("+batchExpr(names)+")"))
		return err
	})
	if err != nil {
		if code := httpCode(err); code >= 400 && code != http.StatusNotFound {
			batchOff.Store(true)
		}
		return nil, nil, err
	}
	return parseBatch(v, len(names))
}

// Answer implements Channel.
func (c *ariChannel) Answer(ctx context.Context) error {
	return c.do(ctx, c.h.Answer)
}

// setVarsConcurrency bounds the SetVariable requests one SetVars has in
// flight.
const setVarsConcurrency = 4

// SetVars implements Channel. ARI sets one variable per request, so the
// plain variables whose values need no quoting (every sanitised verdict
// value) are set together in one request, through the dialplan function
// ARRAY(NAME1,NAME2,...)=v1,v2,...; the rest (functions such as
// CHANNEL(language), values holding separators) get a request each, run
// concurrently, at most setVarsConcurrency at a time. (One after the
// other, the eight verdict variables made eight round trips before every
// continue.) When SetVars returns, all are set, or it returns the error
// of the first name in name order that failed.
func (c *ariChannel) SetVars(ctx context.Context, vars map[string]string) error {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	slices.Sort(names)
	var batch, single []string
	for _, k := range names {
		if !c.arrays.off.Load() && arraySafe(k, vars[k]) {
			batch = append(batch, k)
		} else {
			single = append(single, k)
		}
	}
	if len(batch) > 1 {
		vals := make([]string, len(batch))
		for i, k := range batch {
			vals[i] = vars[k]
		}
		name := "ARRAY(" + strings.Join(batch, ",") + ")"
		err := c.do(ctx, func() error { return c.h.SetVariable(name, strings.Join(vals, ",")) })
		switch {
		case err == nil:
		case errors.Is(err, ErrHangup) || ctx.Err() != nil:
			return fmt.Errorf("%s: %w", batch[0], err)
		default:
			// Asterisk without ARRAY(): set them one by one, now and from
			// now on.
			c.arrays.off.Store(true)
			single = append(single, batch...)
			slices.Sort(single)
		}
	} else {
		single = append(single, batch...)
		slices.Sort(single)
	}
	errs := make([]error, len(single))
	sem := make(chan struct{}, setVarsConcurrency)
	var wg sync.WaitGroup
	for i, k := range single {
		v := vars[k]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = c.do(ctx, func() error { return c.h.SetVariable(k, v) })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", single[i], err)
		}
	}
	return nil
}

// Continue implements Channel.
func (c *ariChannel) Continue(ctx context.Context, t Target) error {
	ext := t.Extension
	if ext == "" {
		ext = c.did
	}
	prio := t.Priority
	if prio <= 0 {
		prio = 1
	}
	return c.do(ctx, func() error { return c.h.Continue(t.Context, ext, prio) })
}

// Hangup implements Channel.
func (c *ariChannel) Hangup(ctx context.Context, cause Cause) error {
	return c.do(ctx, func() error { return c.chans.Hangup(c.key, string(cause)) })
}

// Play implements Channel.
func (c *ariChannel) Play(ctx context.Context, sounds ...string) error {
	_, err := c.play(ctx, sounds, false, 0)
	return err
}

// PlayAndRead implements Channel.
func (c *ariChannel) PlayAndRead(ctx context.Context, sounds []string, timeout time.Duration) (string, error) {
	return c.play(ctx, sounds, true, timeout)
}

// mediaURI turns a sound name into an ARI media URI.
func mediaURI(s string) string {
	if i := strings.IndexByte(s, ':'); i > 0 && !strings.Contains(s[:i], "/") {
		return s // already sound:, digits:, recording:, tone:, ...
	}
	return "sound:" + s
}

// play plays sounds as one playback and waits for PlaybackFinished (the
// events are keyed by the playback, so the subscription is on the staged
// playback handle). With read it also watches the channel's DTMF and
// returns the first digit, stopping the prompt, or "" when timeout passes
// after the prompt without a key.
func (c *ariChannel) play(ctx context.Context, sounds []string, read bool, timeout time.Duration) (string, error) {
	uris := make([]string, len(sounds))
	for i, s := range sounds {
		uris[i] = mediaURI(s)
	}
	ph, err := c.h.StagePlay(newID("callscreen-pb-"), uris...)
	if err != nil {
		return "", fmt.Errorf("stage playback: %w", err)
	}
	fin := c.events.Subscribe(ph.Key(), ari.Events.PlaybackFinished)
	defer fin.Cancel()
	var dtmfC <-chan ari.Event
	if read {
		dtmf := c.events.Subscribe(c.key, ari.Events.ChannelDtmfReceived)
		defer dtmf.Cancel()
		dtmfC = dtmf.Events()
	}
	if err := c.do(ctx, ph.Exec); err != nil {
		return "", fmt.Errorf("start playback: %w", err)
	}
	finC := fin.Events()
	var wait <-chan time.Time
	for {
		select {
		case e, ok := <-finC:
			if !ok {
				return "", errSubscriptionClosed
			}
			if pf, _ := e.(*ari.PlaybackFinished); pf != nil && pf.Playback.State == "failed" {
				return "", fmt.Errorf("playback of %s failed", strings.Join(uris, ", "))
			}
			if !read {
				return "", nil
			}
			finC = nil
			t := time.NewTimer(timeout)
			defer t.Stop()
			wait = t.C
		case e, ok := <-dtmfC:
			if !ok {
				return "", errSubscriptionClosed
			}
			d, _ := e.(*ari.ChannelDtmfReceived)
			if d == nil || d.Digit == "" {
				continue
			}
			if finC != nil {
				// Interrupt the prompt; it may just have ended (404).
				_ = c.raw(ctx, ph.Stop)
			}
			return d.Digit, nil
		case <-wait:
			return "", nil
		case <-c.gone:
			return "", ErrHangup
		case <-ctx.Done():
			if c.isGone() {
				return "", ErrHangup
			}
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = c.raw(stop, ph.Stop)
			cancel()
			return "", ctx.Err()
		}
	}
}

// RecordName implements Channel: a beep, then up to max of the caller's
// voice (ended early by 2 s of silence or any key) into the recording
// directory as name.wav.
func (c *ariChannel) RecordName(ctx context.Context, name string, max time.Duration) (string, error) {
	name = recordingName(name)
	max = maxDuration(max, time.Second)
	lr, err := c.h.StageRecord(name, &ari.RecordingOptions{
		Format:      "wav",
		MaxDuration: max,
		MaxSilence:  2 * time.Second,
		Exists:      "overwrite",
		Beep:        true,
		Terminate:   "any",
	})
	if err != nil {
		return "", fmt.Errorf("stage recording: %w", err)
	}
	sub := c.events.Subscribe(lr.Key(), ari.Events.RecordingFinished, ari.Events.RecordingFailed)
	defer sub.Cancel()
	if err := c.do(ctx, lr.Exec); err != nil {
		return "", fmt.Errorf("start recording: %w", err)
	}
	guard := time.NewTimer(max + 3*time.Second)
	defer guard.Stop()
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				return "", errSubscriptionClosed
			}
			switch e := e.(type) {
			case *ari.RecordingFinished:
				return path.Join(c.recordingDir, name), nil
			case *ari.RecordingFailed:
				return "", fmt.Errorf("recording %s failed: %s", name, e.Recording.Cause)
			}
		case <-guard.C:
			_ = c.raw(ctx, lr.Stop)
			return "", fmt.Errorf("recording %s did not finish within %s", name, max+3*time.Second)
		case <-c.gone:
			return "", ErrHangup
		case <-ctx.Done():
			if c.isGone() {
				return "", ErrHangup
			}
			return "", ctx.Err()
		}
	}
}

func maxDuration(d, floor time.Duration) time.Duration {
	if d < floor {
		return floor
	}
	return d
}

// recordingName makes name safe as an ARI recording name and file name.
func recordingName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}

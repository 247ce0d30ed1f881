package dialplan

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/stdbus"

	"github.com/callscreen/callscreen/screening"
)

const testApp = "callscreen"

// fakeARI is an Asterisk as seen through ari/v6: an in-memory bus and a
// channel API that records requests and answers playbacks with events.
// Embedded interfaces panic on methods the tests do not expect.
type fakeARI struct {
	ari.Client
	bus ari.Bus
	ch  *fakeChans
	// listening is closed when Stasis subscribes to StasisStart.
	listening chan struct{}
	once      sync.Once
	// filtered counts event filter requests.
	filtered atomic.Int32
}

func newFakeARI() *fakeARI {
	f := &fakeARI{bus: stdbus.New(), listening: make(chan struct{})}
	f.ch = &fakeChans{f: f, vars: map[string]map[string]string{}}
	return f
}

func (f *fakeARI) Bus() ari.Bus { return watchedBus{f.bus, f} }

type watchedBus struct {
	ari.Bus
	f *fakeARI
}

func (b watchedBus) Subscribe(key *ari.Key, n ...string) ari.Subscription {
	sub := b.Bus.Subscribe(key, n...)
	if len(n) == 1 && n[0] == ari.Events.StasisStart {
		b.f.once.Do(func() { close(b.f.listening) })
	}
	return sub
}

func (f *fakeARI) Channel() ari.Channel         { return f.ch }
func (f *fakeARI) Connected() bool              { return true }
func (f *fakeARI) Close()                       {}
func (f *fakeARI) Application() ari.Application { return fakeApps{} }

type fakeApps struct{ ari.Application }

func (fakeApps) Data(*ari.Key) (*ari.ApplicationData, error) { return &ari.ApplicationData{}, nil }

type httpErr int

func (e httpErr) Error() string { return fmt.Sprintf("Non-2XX response: %d", int(e)) }
func (e httpErr) Code() int     { return int(e) }

// fakeChans implements ari.Channel for the calls Stasis makes.
type fakeChans struct {
	ari.Channel
	f *fakeARI

	mu   sync.Mutex
	log  []string
	vars map[string]map[string]string
	// onPlay answers a started playback; nil finishes it at once.
	onPlay func(chID string, pb *ari.Key, media []string)
	done   chan string // receives a channel id when it leaves Stasis
}

func (c *fakeChans) record(s string) {
	c.mu.Lock()
	c.log = append(c.log, s)
	c.mu.Unlock()
}

func (c *fakeChans) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *fakeChans) left(id string) {
	if c.done != nil {
		c.done <- id
	}
}

func (c *fakeChans) Get(key *ari.Key) *ari.ChannelHandle { return ari.NewChannelHandle(key, c, nil) }

func (c *fakeChans) GetVariable(key *ari.Key, name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.ContainsAny(name, "(,)") { // ari/v6 does not escape; we must
		return "", fmt.Errorf("unescaped name %q", name)
	}
	v, ok := c.vars[key.ID][name]
	if !ok {
		return "", httpErr(http.StatusInternalServerError)
	}
	return v, nil
}

func (c *fakeChans) SetVariable(key *ari.Key, name, value string) error {
	// ARRAY(A,B)=1,2 sets A and B, as Asterisk's func_strings does.
	if list, ok := strings.CutPrefix(name, "ARRAY("); ok && strings.HasSuffix(list, ")") {
		vals := strings.Split(value, ",")
		for i, n := range strings.Split(strings.TrimSuffix(list, ")"), ",") {
			v := ""
			if i < len(vals) {
				v = vals[i]
			}
			c.record(fmt.Sprintf("set %s=%s", n, v))
		}
		return nil
	}
	c.record(fmt.Sprintf("set %s=%s", name, value))
	return nil
}

func (c *fakeChans) Answer(*ari.Key) error { c.record("answer"); return nil }

func (c *fakeChans) Continue(key *ari.Key, context, extension string, priority int) error {
	c.record(fmt.Sprintf("continue %s,%s,%d", context, extension, priority))
	c.left(key.ID)
	return nil
}

func (c *fakeChans) Hangup(key *ari.Key, reason string) error {
	c.record("hangup " + reason)
	c.left(key.ID)
	return nil
}

func (c *fakeChans) Subscribe(key *ari.Key, n ...string) ari.Subscription {
	return c.f.bus.Subscribe(key, n...)
}

func (c *fakeChans) StagePlay(key *ari.Key, id string, media ...string) (*ari.PlaybackHandle, error) {
	pk := ari.NewKey(ari.PlaybackKey, id, ari.WithApp(testApp))
	return ari.NewPlaybackHandle(pk, fakePlayback{c.f}, func(*ari.PlaybackHandle) error {
		c.record("play " + strings.Join(media, " "))
		if c.onPlay != nil {
			go c.onPlay(key.ID, pk, media)
		} else {
			go c.f.finish(pk)
		}
		return nil
	}), nil
}

type fakePlayback struct{ f *fakeARI }

func (p fakePlayback) Subscribe(key *ari.Key, n ...string) ari.Subscription {
	return p.f.bus.Subscribe(key, n...)
}
func (p fakePlayback) Stop(*ari.Key) error                      { return nil }
func (p fakePlayback) Get(*ari.Key) *ari.PlaybackHandle         { panic("unused") }
func (p fakePlayback) Data(*ari.Key) (*ari.PlaybackData, error) { panic("unused") }
func (p fakePlayback) Control(*ari.Key, string) error           { panic("unused") }

func eventData(typ string) ari.EventData {
	return ari.EventData{Application: testApp, Type: typ}
}

func (f *fakeARI) finish(pb *ari.Key) {
	f.bus.Send(&ari.PlaybackFinished{EventData: eventData(ari.Events.PlaybackFinished), Playback: ari.PlaybackData{ID: pb.ID, State: "done"}})
}

func (f *fakeARI) dtmf(chID, digit string) {
	f.bus.Send(&ari.ChannelDtmfReceived{EventData: eventData(ari.Events.ChannelDtmfReceived), Channel: ari.ChannelData{ID: chID}, Digit: digit})
}

func (f *fakeARI) hangup(chID string) {
	f.bus.Send(&ari.ChannelHangupRequest{EventData: eventData(ari.Events.ChannelHangupRequest), Channel: ari.ChannelData{ID: chID}})
	f.bus.Send(&ari.StasisEnd{EventData: eventData(ari.Events.StasisEnd), Channel: ari.ChannelData{ID: chID}})
}

func (f *fakeARI) start(chID, number, did string, args ...string) {
	f.bus.Send(&ari.StasisStart{
		EventData: eventData(ari.Events.StasisStart),
		Args:      args,
		Channel: ari.ChannelData{ID: chID, Caller: &ari.CallerID{Number: number},
			Dialplan: &ari.DialplanCEP{Context: "callscreen-inbound", Exten: did, Priority: 3}},
	})
}

// fixedEngine returns a verdict with the action, recording what it saw.
type fixedEngine struct {
	action screening.Action
	mu     sync.Mutex
	facts  []screening.Facts
}

func (e *fixedEngine) Evaluate(f *screening.Facts, profile string) screening.Verdict {
	e.mu.Lock()
	e.facts = append(e.facts, *f)
	e.mu.Unlock()
	if profile == "" {
		profile = "default"
	}
	return screening.Verdict{CallID: f.ID, Profile: profile, Caller: "+81312345678", Presence: screening.Presented,
		Action: e.action, Enforced: e.action}
}

type records struct{ c chan screening.Record }

func (r *records) Write(rec screening.Record) { r.c <- rec }

type remembered struct{ c chan screening.Entry }

func (r remembered) Remember(_ context.Context, e screening.Entry) error { r.c <- e; return nil }

// running is a Stasis running against a fake Asterisk.
type running struct {
	recs   *records
	rem    remembered
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error
}

// stasisTestOptions are a Stasis's and its Handler's options.
type stasisTestOptions struct {
	HandlerOptions
	StasisOptions
}

// runStasis runs a Stasis against f until the test ends.
func runStasis(t *testing.T, f *fakeARI, eng Evaluator, mod func(*stasisTestOptions)) *running {
	t.Helper()
	r := &running{
		recs: &records{c: make(chan screening.Record, 10)},
		rem:  remembered{c: make(chan screening.Entry, 10)},
		done: make(chan struct{}),
	}
	o := stasisTestOptions{
		HandlerOptions{Evaluator: eng, Recorder: r.recs, Rememberer: r.rem},
		StasisOptions{HealthInterval: 10 * time.Millisecond},
	}
	if mod != nil {
		mod(&o)
	}
	s := NewStasis(NewHandler(o.HandlerOptions), o.StasisOptions)
	s.dial = func(context.Context) (ari.Client, error) { return f, nil }
	s.filterEvents = func(context.Context) (bool, error) { f.filtered.Add(1); return true, nil }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.err = s.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-f.listening:
	case <-time.After(2 * time.Second):
		t.Fatal("Stasis did not subscribe to StasisStart")
	}
	return r
}

func waitRecord(t *testing.T, recs *records) screening.Record {
	t.Helper()
	select {
	case r := <-recs.c:
		return r
	case <-time.After(3 * time.Second):
		t.Fatal("no call record")
		return screening.Record{}
	}
}

func TestStasisRing(t *testing.T) {
	f := newFakeARI()
	f.ch.vars["c1"] = map[string]string{"PJSIP_HEADER%28read%2CUser-Agent%29": "friendly-scanner", "CALLERID%28pres%29": "allowed_not_screened"}
	eng := &fixedEngine{action: screening.Ring}
	recs := runStasis(t, f, eng, nil).recs

	f.start("c1", "0312345678", "0501234567", "default")
	r := waitRecord(t, recs)

	if r.ID != "c1" || r.Mode != screening.ModeARI || r.Taken != screening.Ring || r.Outcome != screening.OutcomeRang {
		t.Errorf("record = %+v", r)
	}
	if r.Facts.Called != "0501234567" || r.Facts.Number != "0312345678" || r.Facts.UserAgent != "friendly-scanner" || r.Facts.Presentation != "allowed_not_screened" {
		t.Errorf("facts = %+v", r.Facts)
	}
	calls := f.ch.calls()
	if last := calls[len(calls)-1]; last != "continue callscreen-ring,0501234567,1" {
		t.Errorf("last request = %q, want a continue to the ring context keeping the DID", last)
	}
	if !contains(calls, "set SCREEN_ACTION=ring") || !contains(calls, "set SCREEN_ID=c1") {
		t.Errorf("requests = %q, want the verdict variables", calls)
	}
}

func TestStasisChallengePassed(t *testing.T) {
	f := newFakeARI()
	// The fake caller listens to the prompt and presses the digit it names.
	f.ch.onPlay = func(chID string, pb *ari.Key, media []string) {
		for _, m := range media {
			if d, ok := strings.CutPrefix(m, "sound:digits/"); ok {
				f.dtmf(chID, d)
				return
			}
		}
		f.finish(pb)
	}
	eng := &fixedEngine{action: screening.Challenge}
	run := runStasis(t, f, eng, nil)
	recs, rem := run.recs, run.rem

	f.start("c2", "0312345678", "0501234567")
	r := waitRecord(t, recs)
	if r.Outcome != screening.OutcomeChallengePassed || r.Taken != screening.Ring {
		t.Fatalf("outcome/taken = %s/%s (%s), want challenge-passed/ring", r.Outcome, r.Taken, r.Detail)
	}
	select {
	case e := <-rem.c:
		if e.Kind != screening.Allow || e.Number != "+81312345678" || e.Source != screening.SourceChallenge || !e.Expires.After(time.Now().Add(719*time.Hour)) {
			t.Errorf("remembered %+v", e)
		}
	case <-time.After(time.Second):
		t.Error("the caller who passed was not remembered")
	}
	calls := f.ch.calls()
	if !contains(calls, "set CHANNEL(language)=en") || !contains(calls, "answer") {
		t.Errorf("requests = %q", calls)
	}
}

func TestStasisHangupDuringPrompt(t *testing.T) {
	f := newFakeARI()
	f.ch.onPlay = func(chID string, _ *ari.Key, _ []string) { f.hangup(chID) }
	eng := &fixedEngine{action: screening.NumberRequest}
	recs := runStasis(t, f, eng, nil).recs

	f.start("c3", "anonymous", "0501234567", "default")
	r := waitRecord(t, recs)
	if r.Outcome != screening.OutcomeAbandoned {
		t.Errorf("outcome = %s (%s), want abandoned", r.Outcome, r.Detail)
	}
	if calls := f.ch.calls(); contains(calls, "continue callscreen-ring,0501234567,1") {
		t.Errorf("requests = %q: a call that hung up must not be continued", calls)
	}
}

func TestStasisCallDeadlineFailsOpen(t *testing.T) {
	f := newFakeARI()
	f.ch.onPlay = func(string, *ari.Key, []string) {} // the prompt never ends
	eng := &fixedEngine{action: screening.NumberRequest}
	recs := runStasis(t, f, eng, func(o *stasisTestOptions) { o.CallTimeout = 100 * time.Millisecond }).recs

	f.start("c4", "anonymous", "0501234567", "default")
	r := waitRecord(t, recs)
	if r.Outcome != screening.OutcomeError || r.Taken != screening.Ring {
		t.Errorf("outcome/taken = %s/%s (%s), want error/ring", r.Outcome, r.Taken, r.Detail)
	}
	calls := f.ch.calls()
	if last := calls[len(calls)-1]; last != "continue callscreen-ring,0501234567,1" {
		t.Errorf("last request = %q, want the fail-open continue to ring", last)
	}
}

func TestStasisShutdownDrains(t *testing.T) {
	f := newFakeARI()
	release := make(chan struct{})
	f.ch.onPlay = func(_ string, pb *ari.Key, _ []string) { <-release; f.finish(pb) }
	eng := &fixedEngine{action: screening.NumberRequest}
	run := runStasis(t, f, eng, func(o *stasisTestOptions) { o.DrainTimeout = 5 * time.Second })
	recs := run.recs

	f.start("c5", "anonymous", "0501234567", "default")
	time.Sleep(50 * time.Millisecond) // c5 is in its prompt
	run.cancel()
	time.Sleep(50 * time.Millisecond)
	f.start("c6", "0312345678", "0501234567", "default") // arrives while draining

	r := waitRecord(t, recs)
	if r.ID != "c6" || r.Outcome != screening.OutcomeRang || r.Detail != "callscreen stopping" {
		t.Errorf("call during shutdown: %+v, want it rung unscreened", r)
	}
	select {
	case <-run.done:
		t.Fatal("Run returned with a call in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if r := waitRecord(t, recs); r.ID != "c5" || r.Outcome != screening.OutcomeAnnounced {
		t.Errorf("call in flight: %+v, want it finished normally", r)
	}
	select {
	case <-run.done:
		if run.err != nil {
			t.Errorf("Run() = %v", run.err)
		}
	case <-time.After(2 * time.Second):
		t.Error("Run did not return after the calls drained")
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

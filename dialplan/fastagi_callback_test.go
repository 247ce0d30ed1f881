package dialplan

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// fakeCallbacks records what ExpectCallback was asked.
type fakeCallbacks struct {
	got     chan [2]string
	err     error
	already bool
}

func (f *fakeCallbacks) ExpectCallback(number, profile string, now time.Time) (screening.Entry, bool, error) {
	f.got <- [2]string{number, profile}
	if f.err != nil || f.already {
		return screening.Entry{}, false, f.err
	}
	return screening.Entry{Kind: screening.Allow, Number: "+81312345678", Source: screening.SourceCallback, Expires: now.Add(72 * time.Hour)}, true, nil
}

type failingRememberer struct{}

func (failingRememberer) Remember(context.Context, screening.Entry) error {
	return errors.New("database is locked")
}

// TestFastAGICallback: the callback script sends Asterisk nothing (the
// outbound call goes on at once), writes no call record and hands the
// expected callback to the Rememberer; any failure stays in callscreen.
func TestFastAGICallback(t *testing.T) {
	outbound := func(script string) *fakeAsterisk {
		return newFakeAsterisk(agiEnv(
			"agi_network_script", script,
			"agi_request", "agi://127.0.0.1:4573/"+script,
			"agi_context", "from-internal", "agi_extension", "0312345678", "agi_callerid", "100")...)
	}
	tests := []struct {
		name       string
		script     string
		cb         *fakeCallbacks
		rememberer Rememberer // nil: the session's own
		want       [2]string  // what ExpectCallback was asked
		stored     bool
	}{
		{"number parameter", "callback?number=%2B81312345678", &fakeCallbacks{}, nil, [2]string{"+81312345678", ""}, true},
		{"extension when no number", "callback", &fakeCallbacks{}, nil, [2]string{"0312345678", ""}, true},
		{"profile", "callback?number=0312345678&profile=office", &fakeCallbacks{}, nil, [2]string{"0312345678", "office"}, true},
		{"not a number", "callback?number=abc", &fakeCallbacks{err: errors.New("not a telephone number")}, nil, [2]string{"abc", ""}, false},
		{"already allowed", "callback?number=0312345678", &fakeCallbacks{already: true}, nil, [2]string{"0312345678", ""}, false},
		{"store fails", "callback?number=0312345678", &fakeCallbacks{}, failingRememberer{}, [2]string{"0312345678", ""}, false},
		{"not configured", "callback?number=0312345678", nil, nil, [2]string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := outbound(tt.script)
			if tt.cb != nil {
				tt.cb.got = make(chan [2]string, 1)
			}
			start := time.Now()
			_, wrote, rem := session(t, f, &fixedEngine{}, func(o *agiTestOptions) {
				if tt.cb != nil {
					o.Callbacks = tt.cb
				}
				if tt.rememberer != nil {
					o.Rememberer = tt.rememberer
				}
			})
			if d := time.Since(start); d > time.Second {
				t.Errorf("the session took %s", d)
			}
			if cmds := f.commands(); len(cmds) != 0 {
				t.Errorf("the callback script sent Asterisk %q; it must send nothing", cmds)
			}
			if wrote {
				t.Error("the callback script wrote a call record")
			}
			if tt.cb != nil {
				if got := <-tt.cb.got; got != tt.want {
					t.Errorf("ExpectCallback(%q, %q), want %q", got[0], got[1], tt.want)
				}
			}
			select {
			case e := <-rem.c:
				if !tt.stored {
					t.Errorf("remembered %+v", e)
				} else if e.Source != screening.SourceCallback {
					t.Errorf("remembered %+v, want a callback entry", e)
				}
			default:
				if tt.stored {
					t.Error("the expected callback was not remembered")
				}
			}
		})
	}
}

// monitorEngine decides number-request in monitor mode, as the engine
// does for a withheld caller on a monitor profile.
type monitorEngine struct{}

func (monitorEngine) Evaluate(f *screening.Facts, profile string) screening.Verdict {
	return screening.Verdict{CallID: f.ID, Profile: "trial", Presence: screening.Withheld, Caller: "anonymous",
		Action: screening.NumberRequest, Enforced: screening.Ring, Monitor: true, Reason: "number withheld"}
}

// TestFastAGIMonitorRings: in monitor mode the FastAGI front end carries
// out Enforced (ring) and plays nothing, while SCREEN_DECISION and the
// record keep what would have happened.
func TestFastAGIMonitorRings(t *testing.T) {
	f := newFakeAsterisk(agiEnv("agi_callerid", "anonymous")...)
	rec, ok, _ := session(t, f, monitorEngine{}, nil)
	if !ok {
		t.Fatal("no record")
	}
	for _, c := range f.commands() {
		if len(c) >= 11 && c[:11] == "STREAM FILE" || c == "ANSWER" {
			t.Errorf("monitor mode played or answered: %q", c)
		}
	}
	vars := f.variables()
	if vars[VarAction] != "ring" || vars[VarDecision] != "number-request" || vars["SCREEN_CONTEXT"] != "callscreen-ring" {
		t.Errorf("variables %v, want SCREEN_ACTION=ring SCREEN_DECISION=number-request SCREEN_CONTEXT=callscreen-ring", vars)
	}
	if rec.Taken != screening.Ring || rec.Outcome != screening.OutcomeRang || rec.Verdict.Action != screening.NumberRequest || !rec.Verdict.Monitor {
		t.Errorf("record: taken %s outcome %s action %s monitor %v", rec.Taken, rec.Outcome, rec.Verdict.Action, rec.Verdict.Monitor)
	}
}

// TestFastAGIEmergencyCallback: the callback hook dialling 110 opens the
// engine's emergency window (naming the outbound call) instead of
// expecting a callback from 110, and a withheld call then rings.
func TestFastAGIEmergencyCallback(t *testing.T) {
	p := screening.DefaultProfile("default")
	eng, err := screening.NewEngine(screening.Policy{
		Profiles: map[string]*screening.Profile{"default": &p}, Default: "default",
		CallbackWindow: 72 * time.Hour, EmergencyWindow: time.Hour,
	}, screening.NewLists(nil), screening.NewNumbering(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)
	f := newFakeAsterisk(agiEnv(
		"agi_network_script", "callback?number=110",
		"agi_request", "agi://127.0.0.1:4573/callback?number=110",
		"agi_uniqueid", "1700000000.42",
		"agi_context", "from-internal", "agi_extension", "110", "agi_callerid", "100")...)
	kept := &keptEmergencies{}
	_, wrote, rem := session(t, f, &fixedEngine{}, func(o *agiTestOptions) {
		o.Callbacks = eng
		o.Emergencies = kept
		o.Now = func() time.Time { return now }
	})
	if wrote {
		t.Error("the callback script wrote a call record")
	}
	// The window is kept, for serve to reopen after a restart.
	if got := kept.all(); len(got) != 1 || got[0].Number != "110" || got[0].CallID != "1700000000.42" || !got[0].Until.Equal(now.Add(time.Hour)) {
		t.Errorf("kept %+v; want the 110 call's window, until %s", got, now.Add(time.Hour))
	}
	select {
	case e := <-rem.c:
		t.Errorf("remembered %+v; an emergency number is not an expected callback", e)
	default:
	}
	withheld := screening.Facts{Time: now.Add(30 * time.Minute), Number: "anonymous", From: `"Anonymous" <sip:anonymous@anonymous.invalid>`}
	v := eng.Evaluate(&withheld, "")
	if v.Action != screening.Ring || v.Override != screening.OverrideEmergencyCallback || !strings.Contains(v.Reason, "1700000000.42") {
		t.Errorf("withheld call after 110: action %s override %q reason %q; want ring, emergency-callback naming call 1700000000.42", v.Action, v.Override, v.Reason)
	}
	withheld.Time = now.Add(61 * time.Minute)
	if v := eng.Evaluate(&withheld, ""); v.Action != screening.NumberRequest {
		t.Errorf("withheld call after the window: action %s, want number-request", v.Action)
	}
}

// keptEmergencies is an EmergencyKeeper that remembers what it was given.
type keptEmergencies struct {
	mu    sync.Mutex
	calls []screening.EmergencyCall
}

func (k *keptEmergencies) KeepEmergency(_ context.Context, c screening.EmergencyCall) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, c)
	return nil
}

func (k *keptEmergencies) all() []screening.EmergencyCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]screening.EmergencyCall(nil), k.calls...)
}

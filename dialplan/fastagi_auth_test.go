package dialplan

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// TestFastAGIKey: with a key configured, a session without it (or with a
// wrong one) is closed unanswered: nothing screened, recorded or
// remembered. With the key it is screened as before.
func TestFastAGIKey(t *testing.T) {
	const key = "k3y-0f-thirty-two-characters-xyz"
	tests := []struct {
		name     string
		script   string
		screened bool // a record is written and SCREEN_ACTION set
		callback bool // an expected callback is remembered
	}{
		{"screen with the key", "screen?profile=default&key=" + key, true, false},
		{"screen without a key", "screen?profile=default", false, false},
		{"screen with a wrong key", "screen?profile=default&key=guess", false, false},
		{"screen with the key as an argument only", "screen?profile=" + key, false, false},
		{"callback with the key", "callback?number=0312345678&key=" + key, false, true},
		{"callback without a key", "callback?number=0312345678", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAsterisk(agiEnv("agi_network_script", tt.script, "agi_request", "agi://127.0.0.1:4573/"+tt.script)...)
			cb := &fakeCallbacks{got: make(chan [2]string, 1)}
			_, wrote, rem := session(t, f, &fixedEngine{action: screening.Ring}, func(o *agiTestOptions) {
				o.Key, o.Callbacks = key, cb
			})
			if wrote != tt.screened {
				t.Errorf("record written = %v, want %v", wrote, tt.screened)
			}
			if _, set := f.variables()[VarAction]; set != tt.screened {
				t.Errorf("SCREEN_ACTION set = %v, want %v (commands %q)", set, tt.screened, f.commands())
			}
			if !tt.screened && len(f.commands()) != 0 {
				t.Errorf("sent Asterisk %q, want nothing", f.commands())
			}
			select {
			case e := <-rem.c:
				if !tt.callback {
					t.Errorf("remembered %+v", e)
				}
			default:
				if tt.callback {
					t.Error("the expected callback was not remembered")
				}
			}
		})
	}
}

// TestFastAGIMaxSessions: a connection beyond MaxSessions is closed at
// once, before anything is read, and counted; once a session ends there
// is room again.
func TestFastAGIMaxSessions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newTestFastAGI(agiTestOptions{HandlerOptions{Evaluator: &fixedEngine{}, DrainTimeout: time.Second}, FastAGIOptions{MaxSessions: 2, ReadTimeout: time.Minute}})
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedByServer reports whether the server closed c (EOF) within a
	// generous time; a session in progress keeps it open.
	closedByServer := func(c net.Conn, wait time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(wait))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	held := []net.Conn{dial(), dial()} // two sessions waiting for their environment
	waitFor(t, func() bool { return a.h.inFlight() == 2 })
	over := dial()
	if !closedByServer(over, 10*time.Second) {
		t.Fatal("a third session while two are in progress was not closed")
	}
	if full, _ := a.Refused(); full != 1 {
		t.Errorf("Refused full = %d, want 1", full)
	}
	if closedByServer(held[0], 100*time.Millisecond) {
		t.Error("a session within the cap was closed")
	}
	held[1].Close()
	waitFor(t, func() bool { return a.h.inFlight() == 1 })
	again := dial()
	waitFor(t, func() bool { return a.h.inFlight() == 2 })
	if full, _ := a.Refused(); full != 1 {
		t.Errorf("Refused full = %d after room was made, want still 1", full)
	}
	again.Close()
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached in 10s")
}

// TestFastAGICallbackRate: the callback script records at most
// CallbackRate expected callbacks a minute.
func TestFastAGICallbackRate(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	rem := remembered{c: make(chan screening.Entry, 10)}
	a := newTestFastAGI(agiTestOptions{HandlerOptions{Evaluator: &fixedEngine{}, Rememberer: rem, Now: func() time.Time { return now }},
		FastAGIOptions{Callbacks: &fakeCallbacks{got: make(chan [2]string, 10)}, CallbackRate: 3}})
	run := func() {
		f := newFakeAsterisk(agiEnv("agi_network_script", "callback?number=0312345678")...)
		srv, cli := net.Pipe()
		go f.run(cli)
		a.serveConn(context.Background(), srv, false)
	}
	for range 5 {
		run()
	}
	if got := len(rem.c); got != 3 {
		t.Errorf("%d callbacks recorded in a burst of 5, want 3", got)
	}
	now = now.Add(time.Minute)
	for range 5 {
		run()
	}
	if got := len(rem.c); got != 6 {
		t.Errorf("%d callbacks recorded after another minute, want 6", got)
	}
}

package screening

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExpectCallback(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 4, 0, 0, time.UTC)
	p := testPolicy()
	p.CallbackWindow = 72 * time.Hour
	lists := NewLists(nil)
	lists.Put(Entry{Kind: Allow, Number: "+81355550000", Source: SourceOperator, Reason: "pharmacy"})
	lists.Put(Entry{Kind: Allow, Number: "+81355551111", Source: SourceChallenge, Expires: now.Add(720 * time.Hour)})
	lists.Put(Entry{Kind: Allow, Number: "+81355552222", Source: SourceChallenge, Expires: now.Add(time.Hour)})
	lists.Put(Entry{Kind: Allow, Number: "+81355553333", Source: SourceCallback, Expires: now.Add(100 * time.Hour)})
	eng, err := NewEngine(p, lists, NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dialled string
		e164    string // "" when nothing is to be written
		err     string
	}{
		{"0312345678", "+81312345678", ""},
		{"+81312345678", "+81312345678", ""},
		{"81312345678", "+81312345678", ""},
		{"03-1234-5678", "+81312345678", ""},
		{"010442071234567", "+442071234567", ""}, // Japan's international prefix
		{"09012345678", "+819012345678", ""},
		{"0355550000", "", ""},             // permanent allow entry: left alone
		{"0355551111", "", ""},             // a longer challenge entry: left alone
		{"0355552222", "+81355552222", ""}, // a shorter one is extended
		{"0355553333", "+81355553333", ""}, // an earlier callback is renewed
		{"110", "", "not a telephone number"},
		{"anonymous", "", "not a telephone number"},
		{"", "", "not a telephone number"},
	}
	for _, tt := range tests {
		e, ok, err := eng.ExpectCallback(tt.dialled, "", now)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ExpectCallback(%q): error %v, want %q", tt.dialled, err, tt.err)
			}
		case err != nil:
			t.Errorf("ExpectCallback(%q): %v", tt.dialled, err)
		case tt.e164 == "":
			if ok {
				t.Errorf("ExpectCallback(%q) = %+v, want nothing to write", tt.dialled, e)
			}
		case !ok || e.Number != tt.e164:
			t.Errorf("ExpectCallback(%q) = %+v %v, want %s", tt.dialled, e, ok, tt.e164)
		default:
			want := Entry{Kind: Allow, Number: tt.e164, Expires: now.Add(72 * time.Hour), Source: SourceCallback,
				Reason: "outbound call 2026-11-23 15:04", Created: now}
			if e != want {
				t.Errorf("ExpectCallback(%q) = %+v, want %+v", tt.dialled, e, want)
			}
		}
	}

	p.CallbackWindow = 0
	off, err := NewEngine(p, lists, NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := off.ExpectCallback("0312345678", "", now); !errors.Is(err, ErrCallbacksOff) {
		t.Errorf("window 0: %v, want ErrCallbacksOff", err)
	}
}

// TestExpectedCallbackRings: a number the business called back rings
// despite its findings, and the verdict says why.
func TestExpectedCallbackRings(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	p := testPolicy()
	p.CallbackWindow = 72 * time.Hour
	lists := NewLists(nil)
	eng, err := NewEngine(p, lists, NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := provider("+18775550100") // toll-free and international: voicemail or worse
	before := eng.Evaluate(f, "")
	if before.Action == Ring {
		t.Fatalf("the test caller rings without a callback: %+v", before)
	}
	e, ok, err := eng.ExpectCallback("010-1-877-555-0100", "", now.Add(-time.Hour))
	if err != nil || !ok {
		t.Fatalf("ExpectCallback: %v %v", ok, err)
	}
	lists.Put(e)
	v := eng.Evaluate(f, "")
	want := "allowed: expected callback +18775550100 (outbound call 2026-11-23 09:00)"
	if v.Action != Ring || v.Enforced != Ring || v.Reason != want {
		t.Errorf("after the outbound call: %s/%s %q, want ring %q", v.Action, v.Enforced, v.Reason, want)
	}
	if len(v.Findings) == 0 || v.Findings[0].Indicator == "" || !strings.HasPrefix(v.Reasons(), "allow,") {
		t.Errorf("the findings must be kept: %q", v.Reasons())
	}
	// After the window, screening is back.
	f.Time = now.Add(72 * time.Hour)
	if v := eng.Evaluate(f, ""); v.Override != "" || v.Action != before.Action {
		t.Errorf("after the window: %s override %q, want %s", v.Action, v.Override, before.Action)
	}
}

package dialplan

import (
	"reflect"
	"testing"
	"time"
)

func TestStasisArgs(t *testing.T) {
	for _, tt := range []struct {
		data string
		want []string
	}{
		{"callscreen", nil},
		{"callscreen,", []string{""}},
		{"callscreen,default", []string{"default"}},
		{"callscreen,trial,extra", []string{"trial", "extra"}},
	} {
		if got := stasisArgs(tt.data); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("stasisArgs(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestClaimScreensAChannelOnce(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := NewStasis(NewHandler(HandlerOptions{Now: func() time.Time { return now }}), StasisOptions{})
	claim := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.claimLocked("c1")
	}
	if !claim() {
		t.Fatal("first claim refused")
	}
	if claim() {
		t.Fatal("a channel being handled was claimed again (StasisStart and sweep both screening it)")
	}
	s.h.begin(0)
	s.done("c1")
	now = now.Add(claimMemory / 2)
	if claim() {
		t.Fatal("a channel just continued was claimed again while it leaves the application")
	}
	now = now.Add(claimMemory)
	if !claim() {
		t.Fatal("a claim long finished still blocks the channel id")
	}
}

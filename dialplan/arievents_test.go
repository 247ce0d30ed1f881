package dialplan

import (
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/stdbus"
)

func TestEventRouter(t *testing.T) {
	chanEvent := func(typ, id string) ari.Event {
		data := ari.EventData{Type: typ, Application: testApp}
		switch typ {
		case ari.Events.StasisEnd:
			return &ari.StasisEnd{EventData: data, Channel: ari.ChannelData{ID: id}}
		case ari.Events.ChannelHangupRequest:
			return &ari.ChannelHangupRequest{EventData: data, Channel: ari.ChannelData{ID: id}}
		case ari.Events.ChannelDtmfReceived:
			return &ari.ChannelDtmfReceived{EventData: data, Channel: ari.ChannelData{ID: id}, Digit: "7"}
		case ari.Events.PlaybackFinished:
			return &ari.PlaybackFinished{EventData: data, Playback: ari.PlaybackData{ID: id}}
		case ari.Events.RecordingFinished:
			return &ari.RecordingFinished{EventData: data, Recording: ari.LiveRecordingData{Name: id}}
		}
		t.Fatalf("no event %s", typ)
		return nil
	}
	type sub struct {
		key   *ari.Key
		types []string
	}
	hangup := []string{ari.Events.StasisEnd, ari.Events.ChannelHangupRequest, ari.Events.ChannelDestroyed}
	tests := []struct {
		name  string
		subs  []sub
		send  []ari.Event
		want  []int // events each subscription receives
		close bool  // the bus closes: every subscription's channel closes
	}{
		{
			name: "each call gets its own channel's events",
			subs: []sub{{ari.NewKey(ari.ChannelKey, "a"), hangup}, {ari.NewKey(ari.ChannelKey, "b"), hangup}},
			send: []ari.Event{chanEvent(ari.Events.StasisEnd, "a"), chanEvent(ari.Events.ChannelHangupRequest, "b"), chanEvent(ari.Events.StasisEnd, "b")},
			want: []int{1, 2},
		},
		{
			name: "only the types asked for",
			subs: []sub{{ari.NewKey(ari.ChannelKey, "a"), hangup}, {ari.NewKey(ari.ChannelKey, "a"), []string{ari.Events.ChannelDtmfReceived}}},
			send: []ari.Event{chanEvent(ari.Events.ChannelDtmfReceived, "a"), chanEvent(ari.Events.ChannelDtmfReceived, "a"), chanEvent(ari.Events.StasisEnd, "a")},
			want: []int{1, 2},
		},
		{
			name: "playbacks and recordings by their own ids, not a channel's",
			subs: []sub{{ari.NewKey(ari.PlaybackKey, "p1"), []string{ari.Events.PlaybackFinished}}, {ari.NewKey(ari.LiveRecordingKey, "r1"), []string{ari.Events.RecordingFinished}}, {ari.NewKey(ari.ChannelKey, "p1"), hangup}},
			send: []ari.Event{chanEvent(ari.Events.PlaybackFinished, "p1"), chanEvent(ari.Events.PlaybackFinished, "p2"), chanEvent(ari.Events.RecordingFinished, "r1")},
			want: []int{1, 1, 0},
		},
		{
			name: "a full subscription drops, never blocks",
			subs: []sub{{ari.NewKey(ari.ChannelKey, "a"), []string{ari.Events.ChannelDtmfReceived}}, {ari.NewKey(ari.ChannelKey, "b"), hangup}},
			send: append(repeat(chanEvent(ari.Events.ChannelDtmfReceived, "a"), routeBuffer+5), chanEvent(ari.Events.StasisEnd, "b")),
			want: []int{routeBuffer, 1},
		},
		{
			name:  "the bus closing closes every subscription",
			subs:  []sub{{ari.NewKey(ari.ChannelKey, "a"), hangup}},
			send:  []ari.Event{chanEvent(ari.Events.StasisEnd, "a")},
			want:  []int{1},
			close: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := stdbus.New()
			cl := withEventRouter(&fakeARI{bus: bus})
			subs := make([]ari.Subscription, len(tt.subs))
			for i, s := range tt.subs {
				subs[i] = cl.Bus().Subscribe(s.key, s.types...)
			}
			for _, e := range tt.send {
				bus.Send(e)
			}
			// A last event through the same router marks the end of the
			// ones before it.
			marker := cl.Bus().Subscribe(ari.NewKey(ari.ChannelKey, "marker"), hangup...)
			bus.Send(chanEvent(ari.Events.StasisEnd, "marker"))
			select {
			case <-marker.Events():
			case <-time.After(2 * time.Second):
				t.Fatal("the router delivered nothing")
			}
			for i, s := range subs {
				if got := len(s.Events()); got != tt.want[i] {
					t.Errorf("subscription %d (%v) got %d events, want %d", i, tt.subs[i].key, got, tt.want[i])
				}
			}
			if tt.close {
				bus.Close()
				for i, s := range subs {
					deadline := time.After(2 * time.Second)
				drain:
					for {
						select {
						case _, ok := <-s.Events():
							if !ok {
								break drain
							}
						case <-deadline:
							t.Fatalf("subscription %d not closed after the bus closed", i)
						}
					}
				}
				// Subscribing after the close gives a closed subscription.
				if _, ok := <-cl.Bus().Subscribe(ari.NewKey(ari.ChannelKey, "late"), hangup...).Events(); ok {
					t.Error("a subscription after the close got an event")
				}
				return
			}
			// Cancelled subscriptions leave the router and get nothing more.
			for _, s := range subs {
				s.Cancel()
				s.Cancel() // twice is fine
			}
			for _, e := range tt.send {
				bus.Send(e)
			}
			cl.bus.r.mu.Lock()
			left := len(cl.bus.r.subs)
			cl.bus.r.mu.Unlock()
			if left != 1 { // the marker's
				t.Errorf("%d keys still routed after Cancel, want 1", left)
			}
		})
	}
}

func repeat(e ari.Event, n int) []ari.Event {
	out := make([]ari.Event, n)
	for i := range out {
		out[i] = e
	}
	return out
}

package dialplan

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v6"
)

func TestPutEventFilter(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr string
	}{
		{"accepted", http.StatusOK, ""},
		{"application not registered", http.StatusNotFound, "404"},
		{"bad credentials", http.StatusUnauthorized, "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				method, path, user, pass, ctype string
				body                            []byte
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.method, got.path, got.ctype = r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type")
				got.user, got.pass, _ = r.BasicAuth()
				got.body, _ = io.ReadAll(r.Body)
				w.WriteHeader(tt.status)
				io.WriteString(w, `{"message":"x"}`)
			}))
			defer srv.Close()
			s := NewStasis(NewHandler(HandlerOptions{}), StasisOptions{URL: srv.URL + "/ari/", Application: "call screen", Username: "u", Password: "p"})
			err := s.putEventFilter(t.Context())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got.method != http.MethodPut || got.path != "/ari/applications/call%20screen/eventFilter" || got.user != "u" || got.pass != "p" || got.ctype != "application/json" {
				t.Errorf("request = %s %s as %s:%s (%s)", got.method, got.path, got.user, got.pass, got.ctype)
			}
			var f struct {
				Allowed []struct{ Type string } `json:"allowed"`
			}
			if err := json.Unmarshal(got.body, &f); err != nil {
				t.Fatalf("body %s: %v", got.body, err)
			}
			var types []string
			for _, a := range f.Allowed {
				types = append(types, a.Type)
			}
			// Every event type callscreen subscribes to must be allowed.
			for _, need := range []string{"StasisStart", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed", "ChannelDtmfReceived", "PlaybackFinished", "RecordingFinished", "RecordingFailed"} {
				if !slices.Contains(types, need) {
					t.Errorf("allowed %v lacks %s", types, need)
				}
			}
			if slices.Contains(types, "ChannelVarset") || slices.Contains(types, "ChannelDialplan") {
				t.Errorf("allowed %v includes the chatter it is meant to stop", types)
			}
		})
	}
}

func TestStasisSetsEventFilter(t *testing.T) {
	f := newFakeARI()
	runStasis(t, f, &fixedEngine{}, nil)
	deadline := time.Now().Add(2 * time.Second)
	for f.filtered.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.filtered.Load() == 0 {
		t.Error("the event filter was not set after connecting")
	}
}

// filterARI is Asterisk's application resource as ensureEventFilter sees
// it: GET /applications/{app} answers the filter it holds, PUT
// /applications/{app}/eventFilter replaces it. It counts both.
type filterARI struct {
	mu      sync.Mutex
	allowed []map[string]string // nil: no filter
	gets    int
	puts    int
}

func (f *filterARI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/ari/applications/callscreen":
		f.gets++
		allowed := f.allowed
		if allowed == nil {
			allowed = []map[string]string{}
		}
		json.NewEncoder(w).Encode(map[string]any{
			"name": "callscreen", "channel_ids": []string{},
			"events_allowed": allowed, "events_disallowed": []string{},
		})
	case r.Method == http.MethodPut && r.URL.Path == "/ari/applications/callscreen/eventFilter":
		f.puts++
		var body struct {
			Allowed []map[string]string `json:"allowed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.allowed = body.Allowed
		io.WriteString(w, `{"name":"callscreen"}`)
	default:
		http.NotFound(w, r)
	}
}

// restart forgets the filter, as an Asterisk restart does.
func (f *filterARI) restart() {
	f.mu.Lock()
	f.allowed = nil
	f.mu.Unlock()
}

func (f *filterARI) counts() (gets, puts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets, f.puts
}

// flappingARI is a fakeARI whose websocket can be taken down.
type flappingARI struct {
	*fakeARI
	up atomic.Bool
}

func (f *flappingARI) Connected() bool { return f.up.Load() }

// TestStasisEventFilterOnlyWhenMissing: the filter is PUT only when the
// application read back does not have it, once per (re)connection, and
// never on the health checks (Asterisk 22 corrupts its heap when the
// filter is replaced while the application is being read).
func TestStasisEventFilterOnlyWhenMissing(t *testing.T) {
	filter := func(types ...string) []map[string]string {
		m := []map[string]string{}
		for _, t := range types {
			m = append(m, map[string]string{"type": t})
		}
		return m
	}
	reversed := slices.Clone(ariFilterTypes)
	slices.Reverse(reversed)
	tests := []struct {
		name     string
		initial  []map[string]string
		restart  bool // Asterisk restarts (losing the filter) while the websocket is down
		wantPuts int
	}{
		{"already set", filter(ariFilterTypes...), false, 0},
		{"already set, other order", filter(reversed...), false, 0},
		{"absent", nil, false, 1},
		{"another filter", filter("StasisStart"), false, 1},
		{"absent, Asterisk restarts", nil, true, 2},
		{"already set, Asterisk restarts", filter(ariFilterTypes...), true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &filterARI{allowed: tt.initial}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			f := &flappingARI{fakeARI: newFakeARI()}
			f.up.Store(true)
			s := NewStasis(NewHandler(HandlerOptions{Evaluator: &fixedEngine{}}), StasisOptions{
				URL: hs.URL + "/ari", Application: "callscreen",
				HealthInterval: 5 * time.Millisecond,
			})
			s.dial = func(context.Context) (ari.Client, error) { return f, nil }
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			// Wait for a request to the application resource beyond
			// the first n, then for a dozen health checks (each 10 ticks).
			waitRequests := func(n int) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					if g, p := srv.counts(); g+p > n {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no request to the application after %d", n)
					}
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(12 * 10 * 5 * time.Millisecond)
			}
			waitRequests(0)
			g, p := srv.counts()
			f.up.Store(false) // the websocket drops and comes back
			time.Sleep(50 * time.Millisecond)
			if tt.restart {
				srv.restart()
			}
			f.up.Store(true)
			waitRequests(g + p)
			gets, puts := srv.counts()
			if puts != tt.wantPuts {
				t.Errorf("%d PUTs (%d GETs), want %d", puts, gets, tt.wantPuts)
			}
			if gets != 2 {
				t.Errorf("%d GETs of the application, want 2 (one per connection)", gets)
			}
		})
	}
}

package dialplan

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
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

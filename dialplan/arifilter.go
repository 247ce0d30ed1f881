package dialplan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ariFilterTypes are the only event types callscreen handles: the allowed
// list of the application's event filter. Without the filter Asterisk
// sends the application every event of its channels, among them a
// ChannelVarset for each variable callscreen sets and a ChannelDialplan
// for each dialplan step, each serialised by Asterisk and decoded by
// callscreen for nothing (see docs/RELIABILITY.md, "ARI event filter").
var ariFilterTypes = []string{
	"StasisStart", "StasisEnd",
	"ChannelHangupRequest", "ChannelDestroyed",
	"ChannelDtmfReceived",
	"PlaybackStarted", "PlaybackFinished",
	"RecordingStarted", "RecordingFinished", "RecordingFailed",
	"ApplicationReplaced", "ApplicationMoveFailed",
}

// ariEventFilter is the body of PUT /applications/{app}/eventFilter.
var ariEventFilter = func() string {
	var b strings.Builder
	b.WriteString(`{"allowed":[`)
	for i, t := range ariFilterTypes {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":%q}`, t)
	}
	b.WriteString(`]}`)
	return b.String()
}()

// ensureEventFilter makes sure Asterisk sends the application only the
// events in ariFilterTypes. It reads the application back first and sets
// the filter only when Asterisk does not already have it: Asterisk 22
// frees the old filter in PUT /applications/{app}/eventFilter while
// another thread may be serialising the application (GET
// /applications/{app}, callscreen doctor), which corrupts its heap (see
// docs/RELIABILITY.md, "Asterisk crash under event filter updates"). The
// filter lives with the application, so an Asterisk restart loses it;
// Stasis calls this at each (re)connection, never on a timer, and its own
// health check (probe) never reads the application meanwhile. put reports
// whether a PUT was sent.
func (s *Stasis) ensureEventFilter(ctx context.Context) (put bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.appMu.Lock()
	defer s.appMu.Unlock()
	has, err := s.hasEventFilter(ctx)
	if err != nil {
		return false, err
	}
	if has {
		return false, nil
	}
	return true, s.putEventFilter(ctx)
}

// ariApplication is what ensureEventFilter reads of GET
// /applications/{app}.
type ariApplication struct {
	Allowed    []struct{ Type string } `json:"events_allowed"`
	Disallowed []struct{ Type string } `json:"events_disallowed"`
}

// hasEventFilter reports whether Asterisk's filter for the application is
// exactly ariEventFilter: the same allowed types (in any order) and
// nothing disallowed.
func (s *Stasis) hasEventFilter(ctx context.Context) (bool, error) {
	body, err := s.ariRequest(ctx, http.MethodGet, "", 64<<10)
	if err != nil {
		return false, err
	}
	var app ariApplication
	if err := json.Unmarshal(body, &app); err != nil {
		return false, fmt.Errorf("event filter: read application: %w", err)
	}
	if len(app.Disallowed) > 0 {
		return false, nil
	}
	have := make([]string, len(app.Allowed))
	for i, a := range app.Allowed {
		have[i] = a.Type
	}
	slices.Sort(have)
	have = slices.Compact(have)
	want := slices.Sorted(slices.Values(ariFilterTypes))
	return slices.Equal(have, want), nil
}

// putEventFilter asks Asterisk to send the application only the events in
// ariEventFilter; a 404 means the application is not registered.
func (s *Stasis) putEventFilter(ctx context.Context) error {
	_, err := s.ariRequest(ctx, http.MethodPut, ariEventFilter, 512)
	return err
}

// ariRequest sends method to /applications/{app} (GET) or its
// /eventFilter (PUT, with body) and returns up to limit bytes of the
// answer.
func (s *Stasis) ariRequest(ctx context.Context, method, body string, limit int64) ([]byte, error) {
	u := strings.TrimSuffix(s.o.URL, "/") + "/applications/" + url.PathEscape(s.o.Application)
	if method == http.MethodPut {
		u += "/eventFilter"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("event filter: %w", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(s.o.Username, s.o.Password)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("event filter: %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("event filter: %s: %s: %s", method, resp.Status, strings.TrimSpace(string(b)))
	}
	if err != nil {
		return nil, fmt.Errorf("event filter: %s: %w", method, err)
	}
	return b, nil
}

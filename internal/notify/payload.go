package notify

import (
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// Payload is the JSON body of every webhook POST (docs/NOTIFICATIONS.md).
// Strings the caller controls (number, name, User-Agent) are data: they are
// JSON-escaped like any other value and never interpreted.
type Payload struct {
	// Event is "reject", "challenge-failed", "score" or "digest".
	Event string `json:"event"`
	// Triggers lists every event the call matched, Event first.
	Triggers []string `json:"triggers,omitempty"`
	// Delivery identifies this notification; retries repeat it, so a
	// receiver can discard duplicates.
	Delivery string    `json:"delivery"`
	SentAt   time.Time `json:"sent_at"`
	Call     *Call     `json:"call,omitempty"`
	Digest   *Digest   `json:"digest,omitempty"`
	// Suppressed sums up the call notifications not sent in a window
	// (event "suppressed").
	Suppressed *Suppressed `json:"suppressed,omitempty"`
}

// Suppressed is how many call notifications a destination did not get
// between Since and Until because it reached notify.rate_limit, and the
// callers with the most of them.
type Suppressed struct {
	Since   time.Time      `json:"since"`
	Until   time.Time      `json:"until"`
	Count   int            `json:"count"`
	Events  map[string]int `json:"events"`
	Callers []Count        `json:"callers"`
}

// Call is one screened call in a notification.
type Call struct {
	// CallID is the call log record's id (SCREEN_ID, the Asterisk
	// channel's unique id): `callscreen log --id` shows the record.
	CallID     string              `json:"call_id"`
	Time       time.Time           `json:"time"`
	Mode       string              `json:"mode"`
	Profile    string              `json:"profile"`
	Caller     string              `json:"caller"`
	CallerName string              `json:"caller_name,omitempty"`
	CallerType string              `json:"caller_type,omitempty"`
	Presence   string              `json:"presence"`
	Called     string              `json:"called,omitempty"`
	Trunk      string              `json:"trunk,omitempty"`
	Source     string              `json:"source,omitempty"`
	UserAgent  string              `json:"user_agent,omitempty"`
	Score      int                 `json:"score"`
	Action     string              `json:"action"`
	Taken      string              `json:"taken"`
	Outcome    string              `json:"outcome"`
	Detail     string              `json:"detail,omitempty"`
	Monitor    bool                `json:"monitor,omitempty"`
	Override   string              `json:"override,omitempty"`
	Reasons    []string            `json:"reasons"`
	Reason     string              `json:"reason,omitempty"`
	Findings   []screening.Finding `json:"findings,omitempty"`
}

// Digest is the daily summary.
type Digest struct {
	Since    time.Time      `json:"since"`
	Until    time.Time      `json:"until"`
	Timezone string         `json:"timezone"`
	Calls    int            `json:"calls"`
	Actions  map[string]int `json:"actions"`
	Outcomes map[string]int `json:"outcomes"`
	// TopIndicators are the most frequent reasons, most frequent first.
	TopIndicators []Count `json:"top_indicators"`
	// Rejected are the callers rejected or dropped, most calls first.
	Rejected []Count `json:"rejected"`
}

// Count is a name (an indicator, a caller) and how many calls it had.
type Count struct {
	Name  string `json:"name"`
	Calls int    `json:"calls"`
}

// triggers returns the events rec fires under c, most important first.
func (c *Config) triggers(rec *screening.Record) []string {
	var out []string
	if c.wants(EventReject) && isRejected(rec) {
		out = append(out, EventReject)
	}
	if c.wants(EventChallengeFailed) && rec.Outcome == screening.OutcomeChallengeFailed {
		out = append(out, EventChallengeFailed)
	}
	if c.MinScore > 0 && rec.Verdict.Score >= c.MinScore {
		out = append(out, EventScore)
	}
	return out
}

// isRejected reports whether the policy rejected or dropped the call (in
// monitor mode: would have), or the call was rejected in the end.
func isRejected(rec *screening.Record) bool {
	switch {
	case rec.Verdict.Action == screening.Reject, rec.Verdict.Action == screening.Drop,
		rec.Taken == screening.Reject, rec.Taken == screening.Drop,
		rec.Outcome == screening.OutcomeRejected, rec.Outcome == screening.OutcomeDropped:
		return true
	}
	return false
}

func newCall(rec *screening.Record) *Call {
	v := &rec.Verdict
	caller := v.Caller
	if caller == "" {
		caller = rec.Facts.Number
	}
	reasons := []string{}
	if r := v.Reasons(); r != "" {
		reasons = strings.Split(r, ",")
	}
	return &Call{
		CallID:     rec.ID,
		Time:       rec.Time,
		Mode:       string(rec.Mode),
		Profile:    v.Profile,
		Caller:     caller,
		CallerName: rec.Facts.Name,
		CallerType: v.CallerType,
		Presence:   string(v.Presence),
		Called:     rec.Facts.Called,
		Trunk:      rec.Facts.Trunk,
		Source:     rec.Facts.Source,
		UserAgent:  rec.Facts.UserAgent,
		Score:      v.Score,
		Action:     string(v.Action),
		Taken:      string(rec.Taken),
		Outcome:    string(rec.Outcome),
		Detail:     rec.Detail,
		Monitor:    v.Monitor,
		Override:   v.Override,
		Reasons:    reasons,
		Reason:     v.Reason,
		Findings:   v.Findings,
	}
}

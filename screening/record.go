package screening

import "time"

// Outcome is what finally happened to a screened call.
type Outcome string

// The outcomes recorded in the call log.
const (
	OutcomeRang            Outcome = "rang"             // continued to the ring target
	OutcomeVoicemail       Outcome = "voicemail"        // continued to the voicemail target
	OutcomeAnnounced       Outcome = "announced"        // heard the number-request or reject prompt, then hung up on
	OutcomeRejected        Outcome = "rejected"         // hung up or refused with a SIP code, no prompt
	OutcomeDropped         Outcome = "dropped"          // hung up silently without answering
	OutcomeChallengePassed Outcome = "challenge-passed" // pressed the right digit, then rang
	OutcomeChallengeFailed Outcome = "challenge-failed" // wrong digit or silence, then the fallback
	OutcomeAbandoned       Outcome = "abandoned"        // the caller hung up before the flow finished
	OutcomeError           Outcome = "error"            // callscreen failed; the dialplan fell back
)

// Mode says which front end screened a call.
type Mode string

// The modes.
const (
	ModeARI   Mode = "ari"
	ModeAGI   Mode = "agi"
	ModeCheck Mode = "check"
)

// Record is one entry of the call log: what the call presented, what the
// engine decided, what was done and how it ended.
type Record struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Server is the name of the callscreen server that screened the call
	// and Tenant the customer it screens for (fleet mode; empty on a
	// single server without a tenant).
	Server  string  `json:"server,omitempty"`
	Tenant  string  `json:"tenant,omitempty"`
	Mode    Mode    `json:"mode"`
	Facts   Facts   `json:"facts"`
	Verdict Verdict `json:"verdict"`
	// Taken is the action actually carried out (a challenge becomes ring or
	// its fallback; monitor mode rings).
	Taken   Action  `json:"taken"`
	Outcome Outcome `json:"outcome"`
	// Detail adds a few words to the outcome ("pressed 7 after 2.1s",
	// "timeout", "hangup during prompt").
	Detail string `json:"detail,omitempty"`
	// Decision is the time the engine took; Handling the time from
	// StasisStart (or AGI connect) until the call left callscreen.
	Decision time.Duration `json:"decision_ns"`
	Handling time.Duration `json:"handling_ns"`
	// AnswerDelay is how long a challenged caller took to press a key.
	AnswerDelay time.Duration `json:"answer_delay_ns,omitempty"`
}

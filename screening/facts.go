package screening

import "time"

// Facts is everything the network presented for one inbound call, as read
// from the channel before any interpretation.
type Facts struct {
	// ID identifies the call (the Asterisk channel's unique id).
	ID string `json:"id"`
	// Time is when the call arrived.
	Time time.Time `json:"time"`

	// Number and Name are CALLERID(num) and CALLERID(name).
	Number string `json:"number"`
	Name   string `json:"name,omitempty"`
	// Presentation is CALLERID(pres): allowed_not_screened, prohib_*,
	// unavailable, ...
	Presentation string `json:"presentation,omitempty"`

	// Called is the dialled number (the DID).
	Called string `json:"called,omitempty"`
	// Trunk is the PJSIP endpoint the call arrived on.
	Trunk string `json:"trunk,omitempty"`
	// Source is the remote signalling address, "ip:port" or "ip".
	Source string `json:"source,omitempty"`

	// Raw SIP header values; empty when the INVITE did not carry one.
	From      string `json:"from,omitempty"`
	PAI       string `json:"pai,omitempty"`
	Privacy   string `json:"privacy,omitempty"`
	RPID      string `json:"rpid,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Identity  string `json:"identity,omitempty"`

	// Stir holds Asterisk's own STIR/SHAKEN verification results, one per
	// Identity header; empty when the endpoint does not verify.
	Stir []StirResult `json:"stir,omitempty"`
}

// StirResult is one STIR_SHAKEN() result as Asterisk reports it.
type StirResult struct {
	Attestation  string `json:"attestation,omitempty"`
	VerifyResult string `json:"verify_result,omitempty"`
}

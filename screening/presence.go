package screening

// Presence says whether, and why not, the caller's number was shown.
type Presence string

// The presence classes.
const (
	// Presented: a number was shown.
	Presented Presence = "presented"
	// Withheld: the caller chose to hide the number (非通知).
	Withheld Presence = "withheld"
	// Payphone: a public payphone, which cannot show a number (公衆電話).
	Payphone Presence = "payphone"
	// Unavailable: the network could not deliver the number, such as
	// international or out-of-area calls (表示圏外).
	Unavailable Presence = "unavailable"
	// Garbage: something was presented but it is not a number.
	Garbage Presence = "garbage"
)

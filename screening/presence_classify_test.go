package screening

import "testing"

func TestClassifyPresence(t *testing.T) {
	ntt := &Trunk{Name: "ntt", Presence: map[string]Presence{
		"coin-line": Payphone,
		"p":         Withheld,
		"表示圏外":      Unavailable,
		"o":         Unavailable,
		"0000":      Unavailable,
	}}
	tests := []struct {
		name  string
		facts Facts
		trunk *Trunk
		want  Presence
	}{
		{"number", Facts{Number: "0312345678", From: `<sip:0312345678@ntt.example>`}, nil, Presented},
		{"international", Facts{Number: "+12025550123", From: `<sip:+12025550123@gw>`}, nil, Presented},
		{"short", Facts{Number: "100", From: `"100" <sip:100@198.51.100.7>`}, nil, Presented},
		{"number from From only", Facts{From: `<sip:0312345678@h>`}, nil, Presented},

		{"RFC 3323 anonymous", Facts{Number: "anonymous", From: `"Anonymous" <sip:anonymous@anonymous.invalid>`}, nil, Withheld},
		{"anonymous host with number", Facts{Number: "0312345678", From: `<sip:0312345678@anonymous.invalid>`}, nil, Withheld},
		{"Privacy id with PAI number", Facts{Number: "0312345678", From: `<sip:0312345678@ntt.example>`, PAI: `<sip:0312345678@ntt.example>`, Privacy: "id"}, nil, Withheld},
		{"Privacy header", Facts{Number: "0312345678", Privacy: "header;critical"}, nil, Withheld},
		{"Privacy user", Facts{Number: "0312345678", Privacy: "User"}, nil, Withheld},
		{"Privacy none", Facts{Number: "0312345678", Privacy: "none"}, nil, Presented},
		{"restricted", Facts{Number: "Restricted", From: `<sip:restricted@gw>`}, nil, Withheld},
		{"private", Facts{From: `<sip:private@gw>`}, nil, Withheld},
		{"withheld", Facts{Number: "WITHHELD"}, nil, Withheld},
		{"非通知", Facts{Number: "非通知"}, nil, Withheld},
		{"prohib", Facts{Number: "0312345678", Presentation: "prohib_passed_screen"}, nil, Withheld},
		{"empty", Facts{}, nil, Withheld},
		{"empty user", Facts{From: `<sip:gw.example>`}, nil, Withheld},

		{"unknown", Facts{Number: "unknown", From: `<sip:unknown@gw>`}, nil, Unavailable},
		{"unavailable", Facts{From: `<sip:Unavailable@gw>`}, nil, Unavailable},
		{"pres unavailable", Facts{Number: "", Presentation: "unavailable"}, nil, Unavailable},
		{"out of area display", Facts{Number: "anonymous", From: `"表示圏外" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"interaction", Facts{Number: "interaction", From: `<sip:interaction@gw>`}, nil, Unavailable},
		{"out of area user", Facts{From: `<sip:Out-Of-Area@gw>`}, nil, Unavailable},

		{"payphone user", Facts{Number: "payphone", From: `<sip:payphone@gw>`}, nil, Payphone},
		{"coin", Facts{Number: "COIN"}, nil, Payphone},
		{"公衆電話 over anonymous and Privacy", Facts{Number: "anonymous", Privacy: "id", From: `"公衆電話" <sip:anonymous@anonymous.invalid>`}, nil, Payphone},
		{"Payphone name", Facts{Number: "", Name: "Payphone"}, nil, Payphone},
		{"payphone name with a number is a number", Facts{Number: "0312345678", Name: "公衆電話"}, nil, Presented},

		{"trunk payphone", Facts{Number: "Coin-Line", From: `<sip:coin-line@ntt>`}, ntt, Payphone},
		{"trunk reason code", Facts{Number: "P", From: `<sip:P@ntt>`}, ntt, Withheld},
		{"trunk display", Facts{Number: "", From: `"表示圏外" <sip:anonymous@ntt>`}, ntt, Unavailable},
		{"trunk number form wins over numeric", Facts{Number: "0000"}, ntt, Unavailable},
		{"trunk no match falls through", Facts{Number: "0312345678"}, ntt, Presented},

		{"garbage", Facts{Number: "asdf", From: `<sip:asdf@198.51.100.7>`}, nil, Garbage},
		{"email", Facts{Number: "support@outlook.com", From: `<sip:support%40outlook.com@198.51.100.7>`}, nil, Garbage},
		{"star code", Facts{Number: "*67"}, nil, Garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, _ := ParseSIPAddress(tt.facts.From)
			if got := ClassifyPresence(&tt.facts, from, tt.trunk); got != tt.want {
				t.Errorf("ClassifyPresence(%+v) = %s, want %s", tt.facts, got, tt.want)
			}
		})
	}
}

func TestClassifyPresenceNilFacts(t *testing.T) {
	if got := ClassifyPresence(nil, SIPAddress{}, nil); got != Withheld {
		t.Errorf("ClassifyPresence(nil) = %s, want withheld", got)
	}
}

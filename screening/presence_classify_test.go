package screening

import (
	"strings"
	"testing"
)

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

		// The four 3GPP/TTC "cause of no CLI" display names on an
		// anonymous From, in every case and as prefixes.
		{"3GPP Anonymous", Facts{Number: "anonymous", From: `"Anonymous" <sip:anonymous@anonymous.invalid>`}, nil, Withheld},
		{"3GPP anonymous lower", Facts{Number: "anonymous", From: `"anonymous" <sip:anonymous@anonymous.invalid>`}, nil, Withheld},
		{"3GPP Coin line/payphone", Facts{Number: "anonymous", From: `"Coin line/payphone" <sip:anonymous@anonymous.invalid>`}, nil, Payphone},
		{"3GPP coin line/payphone lower", Facts{Number: "anonymous", From: `"coin line/payphone" <sip:anonymous@anonymous.invalid>`}, nil, Payphone},
		{"3GPP Coin Line/Payphone title", Facts{Number: "anonymous", Privacy: "id", From: `"Coin Line/Payphone" <sip:anonymous@anonymous.invalid>`}, nil, Payphone},
		{"3GPP Interaction with other service", Facts{Number: "anonymous", From: `"Interaction with other service" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"3GPP interaction lower", Facts{Number: "anonymous", From: `"interaction with other service" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"3GPP Interaction With Other Service title", Facts{Number: "anonymous", Privacy: "id", From: `"Interaction With Other Service" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"3GPP Unavailable", Facts{Number: "anonymous", From: `"Unavailable" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"3GPP unavailable lower", Facts{Number: "anonymous", From: `"unavailable" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"3GPP UNAVAILABLE upper with Privacy", Facts{Number: "anonymous", Privacy: "id", From: `"UNAVAILABLE" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"prefix: Unavailable with a suffix", Facts{Number: "anonymous", From: `"Unavailable (international)" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"prefix: Coin line alone", Facts{From: `"Coin line" <sip:anonymous@anonymous.invalid>`}, nil, Payphone},
		{"prefix needs a word boundary", Facts{From: `"Coinbase" <sip:anonymous@anonymous.invalid>`}, nil, Withheld},
		{"display reason in CALLERID(name)", Facts{Number: "", Name: "Interaction with other service"}, nil, Unavailable},
		{"非通知 display", Facts{Number: "anonymous", From: `"非通知" <sip:anonymous@anonymous.invalid>`}, nil, Withheld},
		{"ヒツウチ display", Facts{Number: "", Name: "ヒツウチ"}, nil, Withheld},
		{"公衆電話 display", Facts{Number: "anonymous", From: `"公衆電話" <sip:anonymous@anonymous.invalid>`}, nil, Payphone},
		{"ｺｳｼｭｳﾃﾞﾝﾜ display", Facts{Number: "", Name: "ｺｳｼｭｳﾃﾞﾝﾜ"}, nil, Payphone},
		{"表示圏外 display with a suffix", Facts{Number: "anonymous", From: `"表示圏外(国際)" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable},
		{"Out of area display", Facts{Number: "", Name: "Out of Area"}, nil, Unavailable},
		{"display reason ignored when a number is shown", Facts{Number: "0312345678", From: `"Unavailable" <sip:0312345678@ntt.example>`}, nil, Presented},

		{"RPID privacy=full", Facts{Number: "0312345678", RPID: `"Taro" <sip:0312345678@gw;user=phone>;party=calling;privacy=full;screen=yes`}, nil, Withheld},
		{"RPID privacy=uri", Facts{Number: "0312345678", RPID: `<sip:0312345678@gw>;privacy="URI"`}, nil, Withheld},
		{"RPID privacy=name shows the number", Facts{Number: "0312345678", RPID: `<sip:0312345678@gw>;privacy=name`}, nil, Presented},
		{"RPID privacy=off", Facts{Number: "0312345678", RPID: `<sip:0312345678@gw>;privacy=off;screen=no`}, nil, Presented},

		{"leaked 184 prefix", Facts{Number: "1840312345678", From: `<sip:1840312345678@ntt>`}, nil, Withheld},
		{"leaked 184 prefix mobile", Facts{From: `<sip:18409012345678@ntt>`}, nil, Withheld},
		{"leaked 186 prefix is a number", Facts{Number: "1860312345678"}, nil, Presented},
		{"NANP 1-845 is not a 184 prefix", Facts{Number: "18455551234"}, nil, Presented},

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

func TestStripShowPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1860312345678", "0312345678"},
		{"18609012345678", "09012345678"},
		{"186-03-1234-5678", "0312345678"},
		{"1840312345678", "1840312345678"}, // withheld, not stripped
		{"0312345678", "0312345678"},
		{"18605551234", "18605551234"}, // too short for 186 + a national number
		{"+1860312345678", "+1860312345678"},
		{"18600312345678", "18600312345678"}, // 186 then an international access code
	}
	for _, tt := range tests {
		if got := StripShowPrefix(tt.in); got != tt.want {
			t.Errorf("StripShowPrefix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPresenceOfWhy: the verdict's reason names the signal that decided.
func TestPresenceOfWhy(t *testing.T) {
	ntt := &Trunk{Name: "ntt", Presence: map[string]Presence{"p": Withheld}}
	tests := []struct {
		facts Facts
		trunk *Trunk
		want  Presence
		why   string
	}{
		{Facts{Number: "anonymous", From: `"Unavailable" <sip:anonymous@anonymous.invalid>`}, nil, Unavailable, `display name "Unavailable", the network's reason for no number`},
		{Facts{Number: "anonymous", From: `"Coin line/payphone" <sip:anonymous@anonymous.invalid>`}, nil, Payphone, `display name "Coin line/payphone"`},
		{Facts{Number: "anonymous", From: `"Anonymous" <sip:anonymous@anonymous.invalid>`}, nil, Withheld, `display name "Anonymous"`},
		{Facts{Number: "anonymous", From: `<sip:anonymous@anonymous.invalid>`}, nil, Withheld, "From host anonymous.invalid"},
		{Facts{Number: "0312345678", Privacy: "id"}, nil, Withheld, "Privacy: id"},
		{Facts{Number: "0312345678", RPID: `<sip:0312345678@gw>;privacy=full`}, nil, Withheld, "Remote-Party-ID privacy"},
		{Facts{Number: "1840312345678"}, nil, Withheld, "leaked 184"},
		{Facts{Number: "P"}, ntt, Withheld, `trunk ntt maps "P" to withheld`},
		{Facts{Number: "payphone"}, nil, Payphone, `caller ID "payphone"`},
		{Facts{}, nil, Withheld, "no caller ID"},
		{Facts{Number: "0312345678"}, nil, Presented, ""},
	}
	for _, tt := range tests {
		from, _ := ParseSIPAddress(tt.facts.From)
		p, why := PresenceOf(&tt.facts, from, tt.trunk)
		if p != tt.want || !strings.Contains(why, tt.why) || (tt.why == "" && why != "") {
			t.Errorf("PresenceOf(%+v) = %s, %q; want %s, %q", tt.facts, p, why, tt.want, tt.why)
		}
	}
}

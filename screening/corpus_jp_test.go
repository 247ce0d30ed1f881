package screening

import (
	"testing"
	"time"
)

// legitimateJP is a corpus of legitimate Japanese callers as they arrive
// from the carrier trunk: police stations, city offices, clinics and
// hospitals, banks' and card companies' freephone and Navi Dial numbers,
// payphones, out-of-area and international interworking calls, 060 and
// other mobiles, IP phones. None may be turned away (voicemail, number
// request, reject or drop). Withheld callers are not here: like NTT's
// Number Request they are asked to redial with 186, which is the point.
var legitimateJP = []struct {
	name         string
	number, from string // From header; "" builds <sip:number@provider>
	display      string
	want         Action
}{
	{"警視庁 main switchboard", "0335814321", "", "警視庁", Ring},
	{"police station ending 0110", "0335810110", "", "丸の内警察署", Ring},
	{"Osaka prefectural police", "0669431234", "", "大阪府警察", Ring},
	{"Kanagawa police, international form", "+81452111212", "", "", Ring},
	{"police box in Sapporo", "0112420110", "", "", Ring},
	{"ward office", "0352461111", "", "千代田区役所", Ring},
	{"city office in Kyoto", "0752223111", "", "京都市役所", Ring},
	{"tax office", "0335811111", "", "税務署", Ring},
	{"clinic in Fukuoka", "0927114444", "", "ヤマダクリニック", Ring},
	{"hospital in Nagoya", "0529511111", "", "名古屋病院", Ring},
	{"dentist in Naha", "0988661111", "", "", Ring},
	{"clinic in a small town (5-digit area code)", "0123456789", "", "", Ring},
	{"clinic next door (neighbour digits)", "0399991234", "", "", Ring},
	{"pharmacy, full-width digits", "０３－５５５５－０１２３", "", "", Ring},
	{"bank's 0120 freephone", "0120860777", "", "ミツビシユーエフジェイ", Ring},
	{"card company's 0120", "0120444444", "", "", Ring},
	{"bank's 0800 freephone", "08001234567", "", "", Ring},
	{"insurer's 0570 Navi Dial", "0570001234", "", "", Ring},
	{"clinic call centre 0120 with +81", "+81120123456", "", "", Ring},
	{"060 mobile", "06012345678", "", "", Ring},
	{"060 mobile, international form", "+816098765432", "", "", Ring},
	{"090 mobile", "09012345678", "", "タナカ", Ring},
	{"080 mobile", "08098765432", "", "", Ring},
	{"070 mobile", "07011112222", "", "", Ring},
	{"050 IP phone", "05012345678", "", "", Ring},
	{"leaked 186 prefix", "1860312345678", "", "", Ring},
	{"payphone: 3GPP display name", "anonymous", `"Coin line/payphone" <sip:anonymous@anonymous.invalid>`, "Coin line/payphone", Ring},
	{"payphone: lower case", "anonymous", `"coin line/payphone" <sip:anonymous@anonymous.invalid>`, "", Ring},
	{"payphone: 公衆電話", "anonymous", `"公衆電話" <sip:anonymous@anonymous.invalid>`, "公衆電話", Ring},
	{"payphone: From user", "payphone", `<sip:payphone@203.0.113.10>`, "", Ring},
	{"payphone with Privacy id", "anonymous", `"Coin Line/Payphone" <sip:anonymous@anonymous.invalid>`, "", Ring},
	{"out of area: Unavailable", "anonymous", `"Unavailable" <sip:anonymous@anonymous.invalid>`, "", Challenge},
	{"out of area: unavailable", "anonymous", `"unavailable" <sip:anonymous@anonymous.invalid>`, "", Challenge},
	{"interworking: Interaction with other service", "anonymous", `"Interaction with other service" <sip:anonymous@anonymous.invalid>`, "", Challenge},
	{"interworking: lower case", "anonymous", `"interaction with other service" <sip:anonymous@anonymous.invalid>`, "", Challenge},
	{"out of area: 表示圏外", "anonymous", `"表示圏外" <sip:anonymous@anonymous.invalid>`, "表示圏外", Challenge},
	{"out of area: From user unknown", "unknown", `<sip:unknown@203.0.113.10>`, "", Challenge},
}

// turnedAway are the actions that do not put a caller through to a person
// or let them pass a challenge.
var turnedAway = map[Action]bool{Voicemail: true, NumberRequest: true, Reject: true, Drop: true}

// TestLegitimateJapaneseCallers: every caller of the corpus is put
// through (ring) or, without a number to judge, challenged; none is
// turned away. README states the count.
func TestLegitimateJapaneseCallers(t *testing.T) {
	turned := 0
	for _, tt := range legitimateJP {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(testPolicy(), NewLists(nil), NewNumbering(100), nil)
			if err != nil {
				t.Fatal(err)
			}
			f := provider(tt.number)
			f.Name = tt.display
			if tt.from != "" {
				f.From = tt.from
			}
			if tt.name == "payphone with Privacy id" {
				f.Privacy = "id"
			}
			f.Time = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
			v := e.Evaluate(f, "")
			if turnedAway[v.Action] {
				turned++
			}
			if v.Action != tt.want {
				t.Errorf("%s: action %s (%s, findings %+v), want %s", tt.number, v.Action, v.Reason, v.Findings, tt.want)
			}
		})
	}
	if turned != 0 {
		t.Errorf("%d of %d legitimate Japanese callers turned away, want 0", turned, len(legitimateJP))
	}
	if len(legitimateJP) != 37 {
		t.Errorf("the corpus has %d callers; README states 37", len(legitimateJP))
	}
}

package screening

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"0312345678", "+81312345678", "01081312345678", "81312345678", "06012345678", "100", "110", "+1", "00", "+", "０３１２３４５６７８", "03-(1234)-5678", "\xff"} {
		f.Add(s, "JP")
	}
	f.Add("011442071234567", "US")
	f.Add("12", "")
	f.Add("0312345678", "zz")
	cached := NewNumbering(64)
	f.Fuzz(func(t *testing.T, raw, country string) {
		got := classifyNumber(raw, strings.ToUpper(country))
		if got.Raw != raw {
			t.Errorf("Raw = %q, want %q", got.Raw, raw)
		}
		if got.E164 != "" && got.E164[0] != '+' {
			t.Errorf("E164 %q lacks its plus", got.E164)
		}
		if got.Valid && !got.Possible {
			t.Errorf("valid but not possible: %+v", got)
		}
		if got.Short && got.Type != TypeShort {
			t.Errorf("Short with type %s", got.Type)
		}
		if again := cached.Classify(raw, country); again != got {
			t.Errorf("cached %+v, uncached %+v", again, got)
		}
		if again := cached.Classify(raw, country); again != got {
			t.Errorf("cache hit %+v, uncached %+v", again, got)
		}
	})
}

func FuzzParseSIPAddress(f *testing.F) {
	for _, s := range []string{
		`"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1`,
		`"A \"b\" \\" <sip:+81312345678;npdi@h:5060;user=phone;verstat=TN-Validation-Passed>;tag=x`,
		`<sip:+1@h>, <tel:+1;verstat=TN-Validation-Failed>`,
		`sip:%41%zz@[::1]:5060;transport=tcp`,
		`tel:+8131234`,
		"\"\x00\r\n\xff\" <sip:\x00@\xfe>",
		`"unterminated <sip:1@h>`,
		`<sip:1@h`,
		`,,,,<>;;;@@@::`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseSIPAddress(s)
		if !ok && a != (SIPAddress{}) {
			t.Errorf("not ok but %+v", a)
		}
		for _, v := range []string{a.Display, a.User, a.Host, a.Verstat, a.Tel} {
			if len(v) > maxDisplayLen || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n\x7f") {
				t.Errorf("unsafe field %q in %+v", v, a)
			}
		}
		switch a.Scheme {
		case "", "sip", "sips", "tel":
		default:
			t.Errorf("scheme %q", a.Scheme)
		}
		for _, tok := range ParsePrivacy(s) {
			if tok == "" || tok != strings.ToLower(tok) {
				t.Errorf("privacy token %q", tok)
			}
		}
	})
}

// FuzzClassifyPresence fuzzes the whole derivation of a call (parsing,
// presence, numbering) and runs every indicator on the result.
func FuzzClassifyPresence(f *testing.F) {
	f.Add("anonymous", "Anonymous", "allowed_not_screened", `"Anonymous" <sip:anonymous@anonymous.invalid>`, "", "id", "friendly-scanner")
	f.Add("0312345678", "公衆電話", "prohib", `<sip:0312345678@h>`, `<sip:+81398765432@h>`, "none", "")
	f.Add("support@outlook.com", "ＮＴＴ", "", `<sip:support%40outlook.com@h>`, "", "", "sipcli")
	f.Add("+81312340110", "警察", "unavailable", `<sip:+81312340110@h;verstat=TN-Validation-Failed>`, `<tel:+81312340110>`, "header;user", "")
	f.Add("", "", "", "", "", "", "")
	nb := NewNumbering(64)
	inds := DefaultIndicators([]string{"evilscan"})
	trunk := &Trunk{Name: "t", Presence: map[string]Presence{"coin": Payphone, "p": Withheld}}
	f.Fuzz(func(t *testing.T, number, name, pres, from, pai, privacy, ua string) {
		facts := Facts{Number: number, Name: name, Presentation: pres, From: from, PAI: pai, Privacy: privacy, UserAgent: ua, Called: "0312345678"}
		p := testProfile()
		c := newTestCall(nb, facts, p, len(ua)%2 == 0)
		c.Presence = ClassifyPresence(&facts, c.From, trunk)
		switch c.Presence {
		case Presented, Withheld, Payphone, Unavailable, Garbage:
		default:
			t.Fatalf("presence %q", c.Presence)
		}
		if again := ClassifyPresence(&facts, c.From, trunk); again != c.Presence {
			t.Errorf("not deterministic: %s then %s", c.Presence, again)
		}
		for _, ind := range inds {
			evidence, hit := ind.Check(c)
			if hit && evidence == "" {
				t.Errorf("%s fired without evidence", ind.Name)
			}
		}
	})
}

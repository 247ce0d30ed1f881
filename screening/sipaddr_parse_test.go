package screening

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseSIPAddress(t *testing.T) {
	tests := []struct {
		name, in string
		want     SIPAddress
		ok       bool
	}{
		{"anonymous", `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=as1234`,
			SIPAddress{Display: "Anonymous", Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}, true},
		{"quoted with escapes", `"Tanaka \"Taro\" \\ Co" <sip:0312345678@203.0.113.10:5060;transport=udp>;tag=x`,
			SIPAddress{Display: `Tanaka "Taro" \ Co`, Scheme: "sip", User: "0312345678", Host: "203.0.113.10"}, true},
		{"quoted comma", `"Sato, Hanako" <sip:+81312345678@ims.example.jp>`,
			SIPAddress{Display: "Sato, Hanako", Scheme: "sip", User: "+81312345678", Host: "ims.example.jp"}, true},
		{"unquoted display", `公衆電話 <sip:payphone@ntt.example>`,
			SIPAddress{Display: "公衆電話", Scheme: "sip", User: "payphone", Host: "ntt.example"}, true},
		{"bare with header params", `sip:100@198.51.100.7;tag=abc`,
			SIPAddress{Scheme: "sip", User: "100", Host: "198.51.100.7"}, true},
		{"bare sips ipv6 port", `sips:+12025550123@[2001:db8::1]:5061`,
			SIPAddress{Scheme: "sips", User: "+12025550123", Host: "[2001:db8::1]"}, true},
		{"user=phone and verstat in URI", `<sip:+12025550123@carrier.example;user=phone;verstat=TN-Validation-Passed>;tag=1`,
			SIPAddress{Scheme: "sip", User: "+12025550123", Host: "carrier.example", Verstat: "TN-Validation-Passed"}, true},
		{"verstat in header params", `<sip:+12025550123@carrier.example;user=phone>;verstat=TN-Validation-Failed`,
			SIPAddress{Scheme: "sip", User: "+12025550123", Host: "carrier.example", Verstat: "TN-Validation-Failed"}, true},
		{"verstat in user params", `<sip:+12025550123;verstat=TN-Validation-Passed-C@carrier.example>`,
			SIPAddress{Scheme: "sip", User: "+12025550123", Host: "carrier.example", Verstat: "TN-Validation-Passed-C"}, true},
		{"npdi user params", `sip:+12025550123;npdi;rn=+12025550000@gw.example;user=phone`,
			SIPAddress{Scheme: "sip", User: "+12025550123", Host: "gw.example"}, true},
		{"tel", `<tel:+8131234;verstat=No-TN-Validation>`,
			SIPAddress{Scheme: "tel", User: "+8131234", Verstat: "No-TN-Validation", Tel: "+8131234"}, true},
		{"bare tel", `tel:+81312345678`,
			SIPAddress{Scheme: "tel", User: "+81312345678", Tel: "+81312345678"}, true},
		{"percent-encoded email user", `"Support" <sip:support%40outlook.com@198.51.100.9>`,
			SIPAddress{Display: "Support", Scheme: "sip", User: "support@outlook.com", Host: "198.51.100.9"}, true},
		{"bad percent escape kept", `<sip:ab%zz%4@h>`,
			SIPAddress{Scheme: "sip", User: "ab%zz%4", Host: "h"}, true},
		{"password dropped", `<sip:alice:secret@example.com>`,
			SIPAddress{Scheme: "sip", User: "alice", Host: "example.com"}, true},
		{"PAI sip then tel", `<sip:+81312345678@ims.example;user=phone>, <tel:+81312345678;verstat=TN-Validation-Passed>`,
			SIPAddress{Scheme: "sip", User: "+81312345678", Host: "ims.example", Verstat: "TN-Validation-Passed", Tel: "+81312345678"}, true},
		{"PAI tel then sip", `<tel:+81398765432>, "Sato" <sip:+81312345678@ims.example>`,
			SIPAddress{Display: "Sato", Scheme: "sip", User: "+81312345678", Host: "ims.example", Tel: "+81398765432"}, true},
		{"host only", `<sip:example.com>`, SIPAddress{Scheme: "sip", Host: "example.com"}, true},
		{"mailto", `<mailto:a@b.c>`, SIPAddress{}, false},
		{"no scheme", `anonymous`, SIPAddress{}, false},
		{"empty", ``, SIPAddress{}, false},
		{"unterminated quote", `"Ana <sip:1@h>`, SIPAddress{}, false},
		{"unterminated angle", `"Ana" <sip:0312345678@h;tag=1`, SIPAddress{Display: "Ana", Scheme: "sip", User: "0312345678", Host: "h"}, true},
		{"control chars", "\"A\x00B\r\nC\" <sip:1%00@h\x00>", SIPAddress{Display: "ABC", Scheme: "sip", User: "1", Host: "h"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseSIPAddress(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseSIPAddress(%q)\n got %+v, %v\nwant %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseSIPAddressHostile(t *testing.T) {
	long := strings.Repeat("公", 3000) // 9 KB
	tests := []string{
		`"` + long + `" <sip:0312345678@h>`,
		`"` + strings.Repeat(`\`, 8192) + `" <sip:1@h>`,
		strings.Repeat(`<sip:1@h>,`, 5000),
		strings.Repeat(`"`, 8192),
		"\"\xff\xfe\" <sip:\xff@\xfe>",
		"<sip:" + strings.Repeat("%", 8192) + "@h>",
		strings.Repeat(";verstat=", 2000),
	}
	for _, in := range tests {
		got, _ := ParseSIPAddress(in)
		for _, f := range []string{got.Display, got.User, got.Host, got.Verstat, got.Tel} {
			if len(f) > maxDisplayLen || !utf8.ValidString(f) || strings.ContainsAny(f, "\x00\r\n") {
				t.Errorf("ParseSIPAddress(%.40q...) left an unsafe field %.40q (%d bytes)", in, f, len(f))
			}
		}
	}
	got, ok := ParseSIPAddress(`"` + long + `" <sip:0312345678@h>`)
	if !ok || got.User != "0312345678" || !strings.HasPrefix(got.Display, "公公") {
		t.Errorf("long display name: %+v, %v", got, ok)
	}
}

func TestParsePrivacy(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"id", []string{"id"}},
		{"ID; Critical", []string{"id", "critical"}},
		{"header;user;id", []string{"header", "user", "id"}},
		{"none", []string{"none"}},
		{"id, header", []string{"id", "header"}},
		{" ; ;", nil},
		{"", nil},
		{strings.Repeat("id;", 100), slices.Repeat([]string{"id"}, maxPrivacyTokens)},
	}
	for _, tt := range tests {
		if got := ParsePrivacy(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParsePrivacy(%.30q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVerstatOf(t *testing.T) {
	pai := SIPAddress{Verstat: "TN-Validation-Passed"}
	from := SIPAddress{Verstat: "TN-Validation-Failed"}
	tests := []struct {
		addrs []SIPAddress
		want  string
	}{
		{[]SIPAddress{pai, from}, "TN-Validation-Passed"},
		{[]SIPAddress{{}, from}, "TN-Validation-Failed"},
		{[]SIPAddress{{}, {}}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := VerstatOf(tt.addrs...); got != tt.want {
			t.Errorf("VerstatOf(%+v) = %q, want %q", tt.addrs, got, tt.want)
		}
	}
}

func BenchmarkParseSIPAddress(b *testing.B) {
	const pai = `"Tanaka Taro" <sip:+81312345678@ims.example.jp;user=phone>;verstat=TN-Validation-Passed, <tel:+81312345678>`
	b.ReportAllocs()
	for b.Loop() {
		ParseSIPAddress(pai)
	}
}

package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/callscreen/callscreen/integration/harness"
)

// hostileDIDBase numbers the hostile calls: call i is placed to
// hostileDIDBase + i (three digits), screened with the default profile, so
// that its call log record (Facts.Called) and its dialplan lines
// (Executing [DID@...]) can be told apart from every other call.
const hostileDIDBase = "0399992"

// hostileCases generates the hostile INVITEs (docs/RELIABILITY.md lists
// the categories). Each From is sent byte for byte by placeRaw.
func hostileCases() []rawCall {
	var cs []rawCall
	p := harness.ProviderAddr
	add := func(cat, name, from string, headers ...string) {
		cs = append(cs, rawCall{Category: cat, Name: name, From: from, Headers: headers})
	}
	named := func(display, user string) string {
		return `"` + display + `" <sip:` + user + `@` + p + `>`
	}
	num := "0312345678"

	// Long display names and headers.
	add("long", "8KB ASCII display name", named(strings.Repeat("A", 8192), num))
	add("long", "8KB kana display name", named(strings.Repeat("ア", 2731), num))
	add("long", "8KB escaped quotes", named(strings.Repeat(`\"`, 4096), num))
	add("long", "8KB unquoted display", strings.Repeat("B", 8192)+" <sip:"+num+"@"+p+">")
	add("long", "8KB user part", "<sip:"+strings.Repeat("9", 8192)+"@"+p+">")
	add("long", "8KB PAI", named("x", num), "P-Asserted-Identity: <sip:"+strings.Repeat("8", 8000)+"@"+p+">")
	add("long", "8KB User-Agent", named("x", num), "User-Agent: "+strings.Repeat("friendly-scanner ", 480))
	add("long", "8KB Privacy", named("x", num), "Privacy: "+strings.Repeat("id;", 2730))

	// Control characters and NUL in the display name.
	for _, c := range []struct{ name, s string }{
		{"NUL", "\x00"}, {"SOH", "\x01"}, {"BEL", "\x07"}, {"BS", "\x08"}, {"TAB", "\t"}, {"VT", "\x0b"},
		{"FF", "\x0c"}, {"ESC clear screen", "\x1b[2J\x1b[H"}, {"ESC colour", "\x1b[31mRED\x1b[0m"},
		{"ESC OSC title", "\x1b]0;pwned\x07"}, {"DEL", "\x7f"}, {"C1 CSI (UTF-8)", "\u009b2J"}, {"raw CR", "a\rb"},
		{"NUL in middle", "Tanaka\x00Taro"},
	} {
		add("control", c.name+" in display name", named(c.s+"Caller", num))
	}
	add("control", "NUL in user part", "<sip:0312\x00345678@"+p+">")
	add("control", "ESC in user part", "<sip:\x1b[2J0312345678@"+p+">")
	add("control", "NUL in PAI", named("x", num), "P-Asserted-Identity: <sip:03\x0012345678@"+p+">")
	add("control", "ESC in User-Agent", named("x", num), "User-Agent: \x1b[2Jfriendly-scanner\x07")

	// CRLF and header injection.
	add("injection", "CRLF + header in display name", named("Evil\r\nX-Injected: 1", num))
	add("injection", "CRLF CRLF body in display name", named("Evil\r\n\r\nv=0", num))
	add("injection", "LF only in display name", named("Evil\nP-Asserted-Identity: <sip:110@"+p+">", num))
	add("injection", "percent-encoded CRLF in user", "<sip:0312345678%0d%0aX-Injected:1@"+p+">")
	add("injection", "percent-encoded NUL in user", "<sip:0312345678%00@"+p+">")
	add("injection", "folded From header", named("Folded", num), "X-Fold: a\r\n continued: b")
	cs = append(cs, rawCall{Category: "injection", Name: "From folded over two lines", FromLines: []string{"From: \"Fold\"\r\n <sip:" + num + "@" + p + ">;tag=f1"}})
	add("injection", "semicolon params in user", "<sip:0312345678;user=phone;x=${EXTEN}@"+p+">")
	add("injection", "angle brackets in display", named("<sip:110@"+p+">", num))

	// SQL metacharacters.
	for _, s := range []string{"'; DROP TABLE call_log; --", `\" OR 1=1 --`, "Robert'); DELETE FROM list_entries;--", "1' UNION SELECT sqlite_version()--", "%' OR '%'='"} {
		add("sql", "SQL "+s, named(s, num))
	}
	add("sql", "SQL in user part", "<sip:0312345678'OR'1'='1@"+p+">")
	add("sql", "SQL in PAI", named("x", num), "P-Asserted-Identity: \"';DROP TABLE x;--\" <sip:0312345678@"+p+">")

	// Shell and dialplan metacharacters.
	for _, s := range []string{"$(reboot)", "`id`", ";rm -rf /", "| nc 127.0.0.1 4444", "&& curl x", "${SHELL(id)}", "$[1+1]", "${EXTEN}", "a,Dial(PJSIP/x)", "x)|System(id", "${CALLERID(num)}", "\\\\n"} {
		add("shell", "metachar "+s, named(s, num))
	}
	add("shell", "dialplan expression in user", "<sip:$[1+1]@"+p+">")
	add("shell", "variable in user", "<sip:${EXTEN}@"+p+">")
	add("shell", "dialplan in User-Agent", named("x", num), "User-Agent: ${SHELL(id)},Dial(PJSIP/x)")

	// Format strings.
	for _, s := range []string{"%s%n%s%n", "%x%x%x%x", "%99999999s", "%p%p%p", "{{.}}{{printf \\\"%s\\\"}}", "%!(EXTRA"} {
		add("format", "format "+s, named(s, num))
	}
	add("format", "format string in user", "<sip:%25s%25n@"+p+">")

	// Unicode: bidi overrides, zero width, combining, full width.
	for _, c := range []struct{ name, s string }{
		{"RLO", "\u202eevil\u202c"}, {"LRO", "\u202dx"}, {"RLI", "\u2067x\u2069"}, {"ALM", "\u061cx"},
		{"zero width space", "N\u200bT\u200bT"}, {"BOM", "\ufeffNTT"}, {"LRM/RLM", "\u200e\u200fx"},
		{"combining stack", "Z" + strings.Repeat("\u0301\u0308\u0336", 100)}, {"full-width NTT", "ＮＴＴ"},
		{"emoji", "📞☎️"}, {"Japanese", "山田太郎"}, {"line separator", "a\u2028b\u2029c"},
	} {
		add("unicode", c.name, named(c.s, num))
	}
	add("unicode", "full-width digits in user", "<sip:０３１２３４５６７８@"+p+">")
	add("unicode", "RLO in user", "<sip:\u202e8765432130@"+p+">")

	// Invalid UTF-8.
	for _, c := range []struct{ name, s string }{
		{"FF FE", "\xff\xfe"}, {"overlong slash", "\xc0\xaf"}, {"surrogate", "\xed\xa0\x80"},
		{"truncated kana", "\xe3\x81"}, {"lone continuation", "\x80\x80"}, {"Latin-1", "M\xfcller"},
	} {
		add("utf8", "invalid UTF-8 "+c.name, named(c.s, num))
	}
	add("utf8", "invalid UTF-8 in user", "<sip:03\xff12345678@"+p+">")

	// Numbers: lengths and shapes.
	for _, u := range []string{"1", "0", "9", strings.Repeat("1", 64), strings.Repeat("0", 64), "+" + strings.Repeat("8", 63),
		"+", "++81312345678", "+81-3-1234-5678", "abc", "*", "%23", "0312345678;phone-context=+81", "100", "911", "110"} {
		add("number", "number "+u, "<sip:"+u+"@"+p+">")
	}
	add("number", "tel URI", "<tel:+81312345678>")
	add("number", "empty user", "<sip:@"+p+">")
	add("number", "no URI", `"Only a name"`)
	add("number", "sips with port", "<sips:0312345678@"+p+":5061;transport=tls>")

	// Several From / PAI headers.
	cs = append(cs, rawCall{Category: "multi", Name: "two From headers", FromLines: []string{
		"From: <sip:0312345678@" + p + ">;tag=a1", "From: <sip:110@" + p + ">;tag=a2"}})
	cs = append(cs, rawCall{Category: "multi", Name: "From header twice, compact", FromLines: []string{
		"From: <sip:0312345678@" + p + ">;tag=b1", "f: <sip:0120000000@" + p + ">;tag=b2"}})
	cs = append(cs, rawCall{Category: "multi", Name: "no From header", FromLines: []string{}})
	add("multi", "two PAI disagreeing", named("x", num), "P-Asserted-Identity: <sip:0312345678@"+p+">", "P-Asserted-Identity: <sip:+18005550100@"+p+">")
	add("multi", "PAI list in one header", named("x", num), "P-Asserted-Identity: <sip:1@"+p+">, <tel:+1>, <sip:anonymous@anonymous.invalid>")
	add("multi", "three PAI", named("x", num), "P-Asserted-Identity: <sip:1@h>", "P-Asserted-Identity: <sip:2@h>", "P-Asserted-Identity: <sip:3@h>")
	add("multi", "garbage PAI", named("x", num), "P-Asserted-Identity: <<<>>>;;;@@@")
	add("multi", "PAI with verstat failed", named("x", num), "P-Asserted-Identity: <sip:+81312345678;verstat=TN-Validation-Failed@"+p+";user=phone>")
	add("multi", "garbage Remote-Party-ID", named("x", num), "Remote-Party-ID: \"\x1b\" <sip:\x00@x>;privacy=full;screen=yes;party=calling")
	add("multi", "two User-Agents", named("x", num), "User-Agent: friendly-scanner", "User-Agent: Asterisk PBX")

	// Privacy and Identity garbage.
	for _, v := range []string{"id;id;id;;;", "\x00", "none, id, header, critical, session, user", "banana", ";", "ID", "id\x1b[2J"} {
		add("privacy", "Privacy "+v, named("x", num), "Privacy: "+v)
	}
	for _, v := range []string{"garbage", strings.Repeat("eyJhbGciOi", 800), ";info=<>;alg=ES256;ppt=shaken", "a.b.c;info=<http://127.0.0.1/cert.pem>", "\x00\xff"} {
		add("identity", "Identity "+v[:min(len(v), 30)], named("x", num), "Identity: "+v)
	}
	for i := range cs {
		cs[i].To = fmt.Sprintf("%s%03d", hostileDIDBase, i)
	}
	return cs
}

// TestHostileCallerIDs sends over 100 hostile INVITEs from the provider
// and checks that every call PJSIP lets through gets a decision, nothing
// crashes, nothing stays up, the log shows only escaped text and the
// dialplan sees only sanitised variables.
func TestHostileCallerIDs(t *testing.T) {
	f := getFixture(t)
	cases := hostileCases()
	if len(cases) < 100 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	start := time.Now()
	results := make([]rawResult, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			results[i], errs[i] = placeRaw(ctx, c)
		}()
	}
	wg.Wait()
	t.Logf("%d hostile calls placed in %s", len(cases), time.Since(start).Round(time.Second))

	// Which calls reached callscreen: the dialplan ran [callscreen-inbound].
	reached := func(did string) bool {
		return strings.Contains(f.ast.FullLog(), "Executing ["+did+"@callscreen-inbound:1]")
	}
	// Wait for the log writer, then index the records by DID.
	byDID := map[string]record{}
	poll(t, 30*time.Second, func() bool {
		byDID = f.hostileRecords(t, start)
		for _, c := range cases {
			if reached(c.To) {
				if _, ok := byDID[c.To]; !ok {
					return false
				}
			}
		}
		return true
	}, func() string {
		var missing []string
		for _, c := range cases {
			if _, ok := byDID[c.To]; reached(c.To) && !ok {
				missing = append(missing, c.To+" "+c.Name)
			}
		}
		return fmt.Sprintf("calls that reached callscreen have no call log record: %v", missing)
	})

	outcomes := map[string]int{}
	refused := map[string][]string{} // what PJSIP did with the calls that did not reach callscreen
	perCat := map[string][2]int{}    // category -> reached, total
	for i, c := range cases {
		r := results[i]
		pc := perCat[c.Category]
		pc[1]++
		if errs[i] != nil {
			t.Errorf("%s (%s): harness: %v", c.Name, c.To, errs[i])
		}
		if !reached(c.To) {
			why := fmt.Sprintf("%d %s", r.Final, r.Reason)
			if r.Final == 0 {
				why = r.Reason
			}
			refused[why] = append(refused[why], c.Name)
			if rec, ok := byDID[c.To]; ok {
				t.Errorf("%s: a call log record but no dialplan line: %s", c.Name, rec)
			}
			perCat[c.Category] = pc
			continue
		}
		pc[0]++
		perCat[c.Category] = pc
		rec := byDID[c.To]
		outcomes[rec.Outcome]++
		switch rec.Outcome {
		case "rang", "voicemail", "announced", "rejected", "dropped", "challenge-passed", "challenge-failed", "abandoned":
		default:
			t.Errorf("%s: no decision carried out: %s (%s)", c.Name, rec, r)
		}
		// Targets the call was continued into show sanitised values.
		if rec.Taken == "ring" || rec.Taken == "voicemail" {
			log := f.ast.FullLog()
			routed := strings.Contains(log, "Executing ["+c.To+"@callscreen-ring:1]") || strings.Contains(log, "Executing ["+c.To+"@callscreen-voicemail:1]")
			v, ok := routedVars(log, rec.ID)
			switch {
			case !routed && rec.Outcome != "abandoned":
				t.Errorf("%s: taken %s but the call never entered callscreen-ring/voicemail (id %s)", c.Name, rec.Taken, rec.ID)
			case routed && !ok:
				// The sample's NoOp lines print the caller number through
				// FILTER(), so caller data cannot break them up.
				t.Errorf("%s: routed, but the target's NoOp line (id %s) is missing or broken in Asterisk's log", c.Name, rec.ID)
			case ok && (!regexp.MustCompile(`^[a-z-]+$`).MatchString(v.Action) || !regexp.MustCompile(`^-?[0-9]+$`).MatchString(v.Score) ||
				!regexp.MustCompile(`^[A-Za-z0-9+_.:-]*$`).MatchString(v.Reasons)):
				t.Errorf("%s: unsanitised dialplan variables: %+v", c.Name, v)
			}
		}
	}
	t.Logf("outcomes of the %d calls that reached callscreen: %v", len(byDID), outcomes)
	cats := make([]string, 0, len(perCat))
	for c := range perCat {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Logf("category %-10s reached callscreen %d of %d", c, perCat[c][0], perCat[c][1])
	}
	for why, names := range refused {
		t.Logf("refused by Asterisk/PJSIP before the dialplan (%s): %d: %q", why, len(names), names)
	}
	if len(byDID) < len(cases)/2 {
		t.Errorf("only %d of %d hostile calls reached callscreen: the suite tests PJSIP more than callscreen", len(byDID), len(cases))
	}

	f.assertNoStuckChannels(t)
	f.assertServeHealthy(t)

	// "callscreen log" (the terminal view) shows every record escaped.
	out := f.cli(t, "log", "-n", "1000", "--since", "1h")
	if bad := unsafeBytes(out); bad != "" {
		t.Errorf("callscreen log prints raw %s", bad)
	}
	n := 0
	for _, c := range cases {
		if strings.Contains(out, c.To) {
			n++
		}
	}
	t.Logf("callscreen log shows %d of the hostile calls' DIDs; output %d bytes, no raw control/bidi characters", n, len(out))
}

// hostileRecords returns the call log records since start whose called
// number is a hostile DID, by DID.
func (f *fixture) hostileRecords(t *testing.T, since time.Time) map[string]record {
	t.Helper()
	out, err := f.run(context.Background(), "log", "--json", "-n", "2000")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := map[string]record{}
	for _, r := range decodeRecords(t, out) {
		if strings.HasPrefix(r.Facts.Called, hostileDIDBase) && !r.Time.Before(since.Add(-time.Second)) {
			m[r.Facts.Called] = r
		}
	}
	return m
}

// unsafeBytes describes the first character in s a terminal would act on
// (control characters other than newline, C1 controls, bidi controls,
// invalid UTF-8), or "".
func unsafeBytes(s string) string {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Sprintf("invalid UTF-8 at byte %d", i)
			}
		case r == '\n':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return fmt.Sprintf("control character %U at byte %d", r, i)
		case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c:
			return fmt.Sprintf("bidi control %U at byte %d", r, i)
		}
	}
	return ""
}

// assertNoStuckChannels waits until Asterisk has no channel left (CLI and
// ARI agree).
func (f *fixture) assertNoStuckChannels(t *testing.T) {
	t.Helper()
	var cli, ari string
	poll(t, 60*time.Second, func() bool {
		cli, _ = f.ast.CLI(context.Background(), "core show channels concise")
		ari = f.ariGet(t, "/channels")
		return strings.TrimSpace(cli) == "" && strings.TrimSpace(ari) == "[]"
	}, func() string {
		return fmt.Sprintf("channels still up:\nCLI: %s\nARI: %s", cli, ari)
	})
}

// assertServeHealthy checks that callscreen serve still runs and never
// panicked, and that its log never shows the ARI password.
func (f *fixture) assertServeHealthy(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	p := f.serve
	f.mu.Unlock()
	if p == nil {
		t.Error("callscreen serve is not running")
	} else {
		select {
		case <-p.done:
			t.Errorf("callscreen serve exited: %v", p.err)
		default:
		}
	}
	l := harness.ReadFile(f.serveLog)
	for _, s := range []string{"panic:", "goroutine ", "fatal error:"} {
		if strings.Contains(l, s) {
			t.Errorf("callscreen serve's stderr shows %q", s)
		}
	}
	if strings.Contains(l, f.ast.ARIPassword) {
		t.Errorf("callscreen serve's stderr shows the ARI password")
	}
	if harness.HTTPStatus(context.Background(), "http://"+httpListen+"/healthz", "", "") != http.StatusOK {
		t.Error("/healthz does not answer 200")
	}
}

// ariGet returns the body of an ARI GET.
func (f *fixture) ariGet(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ast.ARIURL+path, nil)
	req.SetBasicAuth(f.ast.ARIUser, f.ast.ARIPassword)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// routedVars finds the SCREEN_* values of call id on the NoOp line of
// [callscreen-ring] or [callscreen-voicemail], even when caller data
// earlier on the same line held a line break.
func routedVars(log, id string) (screenVar, bool) {
	i := strings.Index(log, " id="+id+" action=")
	if i < 0 || id == "" {
		return screenVar{}, false
	}
	line, _, _ := strings.Cut(log[i+len(" id="+id+" "):], "\n")
	m := regexp.MustCompile(`^action=(\S*) score=(\S*) reasons=([^"]*)"\)`).FindStringSubmatch(line)
	if m == nil {
		return screenVar{}, false
	}
	return screenVar{ID: id, Action: m[1], Score: m[2], Reasons: m[3]}, true
}

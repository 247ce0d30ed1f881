package dialplan

import (
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzSanitize: whatever a caller sends, a sanitised value is valid UTF-8,
// at most 256 bytes, free of control characters and of every character
// with a meaning in dialplan syntax, and sanitising is idempotent.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		"ring", "spoof+international", "a,b;c|d", "${SHELL(rm -rf /)}", "$[1+1]", "\r\nexten => s,1,Dial(PJSIP/x)",
		"\x00\x01\x1b[31m", "\u202e\u200bevil", "\xff\xfe", strings.Repeat("é", 200), "%s%n%x", "'; DROP TABLE calls; --",
		"a\u0301\u0308", "\ufeff", "`id`", "<script>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if len(got) > maxValue {
			t.Errorf("len %d > %d", len(got), maxValue)
		}
		if !utf8.ValidString(got) {
			t.Errorf("invalid UTF-8 %q", got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("control character %U in %q", r, got)
			}
		}
		if strings.ContainsAny(got, ",;|\"'`\\$[]{}()<>&=!^~\r\n\x00") {
			t.Errorf("dialplan metacharacter left in %q", got)
		}
		if again := Sanitize(got); again != got {
			t.Errorf("not idempotent: %q -> %q", got, again)
		}
	})
}

// FuzzAGIEnvironment feeds arbitrary bytes as the AGI environment a
// FastAGI peer sends. openAGI must return a session or an error within
// its read timeout, never panic or hang, and parseAGIRequest must bound
// every field.
func FuzzAGIEnvironment(f *testing.F) {
	for _, s := range []string{
		"agi_request: agi://127.0.0.1:4573/screen?profile=default\nagi_channel: PJSIP/provider-00000001\nagi_language: en\nagi_type: PJSIP\nagi_uniqueid: 1700000000.1\nagi_callerid: 0312345678\nagi_calleridname: Tanaka\nagi_extension: 0399991000\nagi_network_script: screen?profile=default\n\n",
		"agi_network_script: screen?profile=%zz&profile=x\nagi_arg_1: fallback\nagi_channel: x\n\n",
		"agi_callerid: unknown\nagi_calleridname: unknown\nagi_request: x\n\n",
		"agi_request\n: \n::::\n\n",
		"\n",
		"agi_request: " + strings.Repeat("A", 70000) + "\n\n",
		"agi_channel: \x00\xff\x1b[2J\r\nagi_request: y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"agi_request: a\nagi_network_script: /screen/?profile=" + strings.Repeat("p", 100) + "\n\n200 result=1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, p := net.Pipe()
		defer c.Close()
		go func() {
			p.SetWriteDeadline(time.Now().Add(time.Second))
			p.Write(data)
			p.Close()
		}()
		done := make(chan struct{})
		var env map[string]string
		var err error
		go func() {
			defer close(done)
			_, env, err = openAGI(c, 500*time.Millisecond, t.TempDir())
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("openAGI did not return")
		}
		if err != nil {
			return
		}
		r, ok := parseAGIRequest(env)
		if !ok {
			return
		}
		if len(r.profile) > maxProfileName {
			t.Errorf("profile %d bytes", len(r.profile))
		}
		for _, v := range []string{r.id, r.channel, r.number, r.name, r.did} {
			if len(v) > maxFact {
				t.Errorf("field of %d bytes > %d", len(v), maxFact)
			}
		}
	})
}

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// TestFastAGIKey: the sample dialplan passes the FastAGI key, so its calls
// are screened; a local process that connects to the FastAGI port without
// the key (or with a wrong one) is closed unanswered and adds nothing: no
// expected callback, no call record, no overwritten record.
func TestFastAGIKey(t *testing.T) {
	f := getFixture(t)
	const caller = "0312345671"
	start := time.Now()
	r := f.call(t, harness.CallSpec{To: harness.DIDAGI, FromUser: caller, Hold: time.Second})
	if !r.Answered {
		t.Errorf("not answered: %s", r)
	}
	rec := f.lastRecord(t, "+81312345671", start)
	t.Log(rec)
	if rec.Mode != "agi" || rec.Verdict.Action != "ring" || rec.Outcome != "rang" {
		t.Fatalf("the sample dialplan's call was not screened through FastAGI with the key: %s", rec)
	}

	// rawSession plays Asterisk: it sends an AGI environment for script
	// and returns what the server answered before closing.
	rawSession := func(script, uniqueid, callerid string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", "127.0.0.1:4573", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		env := []string{
			"agi_network: yes", "agi_network_script: " + script, "agi_request: agi://127.0.0.1:4573/" + script,
			"agi_channel: PJSIP/provider-0000ffff", "agi_language: en", "agi_type: PJSIP",
			"agi_uniqueid: " + uniqueid, "agi_version: 22.0.0", "agi_callerid: " + callerid,
			"agi_calleridname: Forged", "agi_context: callscreen-agi", "agi_extension: " + harness.DIDAGI,
			"agi_priority: 7", "agi_enhanced: 0.0", "agi_accountcode: ", "agi_threadid: 1",
		}
		fmt.Fprint(c, strings.Join(env, "\n")+"\n\n")
		var got strings.Builder
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			got.WriteString(l)
			if err == io.EOF {
				return got.String()
			}
			if err != nil {
				t.Fatalf("%s: %v after %q", script, err, got.String())
			}
			// An authenticated screen session asks for the facts: answer
			// every command with an empty success until it hangs up.
			fmt.Fprint(c, "200 result=1\n")
		}
	}

	const (
		forged = "0312349876" // the callback a local process tries to add
		wanted = "0312349877" // the same with the key: the control
	)
	for _, tc := range []struct{ name, key string }{{"no key", ""}, {"wrong key", "&key=integration-agi-key-wrong000"}} {
		if got := rawSession("callback?number="+forged+tc.key, "1700000000.901", "100"); got != "" {
			t.Errorf("callback with %s: the server answered %q, want nothing", tc.name, got)
		}
		if got := rawSession("screen?profile=default"+tc.key, rec.ID, "0399999999"); got != "" {
			t.Errorf("screen with %s for record %s: the server answered %q, want nothing", tc.name, rec.ID, got)
		}
		if got := rawSession("screen?profile=default"+tc.key, "1700000000.902", "0399999998"); got != "" {
			t.Errorf("screen with %s: the server answered %q, want nothing", tc.name, got)
		}
	}
	// The control: the same raw client with the key is served.
	rawSession("callback?number="+wanted+"&key="+harness.AGIKey, "1700000000.903", "100")
	poll(t, 10*time.Second, func() bool {
		return strings.Contains(f.cli(t, "lists", "show", "allow", "--source", "callback", "--json"), "+81312349877")
	}, func() string { return "the raw client with the key did not add its expected callback" })
	if out := f.cli(t, "lists", "show", "allow", "--json"); strings.Contains(out, "+81312349876") {
		t.Errorf("a session without the key added an allow entry:\n%s", out)
	}
	time.Sleep(2 * time.Second) // a log batch: serve writes records a second after the call
	for _, r := range f.records(t, "") {
		if r.ID == rec.ID && (r.Verdict.Caller != rec.Verdict.Caller || r.Outcome != rec.Outcome) {
			t.Errorf("record %s was overwritten: %s, was %s", rec.ID, r, rec)
		}
		if strings.Contains(r.Verdict.Caller, "399999998") || strings.Contains(r.Verdict.Caller, "399999999") {
			t.Errorf("a session without the key wrote a record: %s", r)
		}
	}
	if n := strings.Count(harness.ReadFile(f.serveLog), "without the right agi.key"); n == 0 {
		t.Error("serve did not log the refused sessions")
	}
}

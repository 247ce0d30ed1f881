package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// didNames is screened with the "names" profile: the challenge records the
// caller's name.
const didNames = "0399991003"

// TestNameCapture: a challenged caller who passes says their name after
// the beep; the ring context plays the recording to the person who answers
// (Dial's A() option) before connecting the call.
func TestNameCapture(t *testing.T) {
	f := getFixture(t)
	const caller = "+12025550177"
	start := time.Now()
	// Press the digit during the prompt, then speak from 3 s later on:
	// through the say-name prompt, the beep and the recording.
	r := f.call(t, harness.CallSpec{
		To: didNames, FromUser: caller,
		DTMF: challengeDigit, DTMFDelay: 2500 * time.Millisecond,
		Audio: true, AudioDelay: 3 * time.Second, Hold: 16 * time.Second,
	})
	if !r.Answered {
		t.Errorf("not answered: %s", r)
	}
	f.waitRang(t, caller, 1)
	rec := f.lastRecord(t, caller, start)
	t.Log(rec)
	if rec.Verdict.Profile != "names" || rec.Outcome != "challenge-passed" || rec.Taken != "ring" {
		t.Fatalf("want profile names, challenge-passed, taken ring: %s", rec)
	}

	// The recording exists in Asterisk's recording directory and is more
	// than a WAV header.
	matches, _ := filepath.Glob(filepath.Join(f.ast.Root, "var/spool/asterisk/recording", "callscreen-name-*.wav"))
	var file string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.ModTime().After(start.Add(-time.Second)) && fi.Size() > 1000 {
			file = strings.TrimSuffix(strings.TrimPrefix(m, f.ast.Root), ".wav")
		}
	}
	if file == "" {
		t.Fatalf("no fresh name recording in the recording directory (found %q)", matches)
	}
	// The ring context dialled the desk with the announcement, and
	// Asterisk played it to the desk phone on answer.
	deadline := time.Now().Add(15 * time.Second)
	for {
		log := f.ast.FullLog()
		dialled := strings.Contains(log, "A("+file+")")
		played := strings.Contains(log, "Playing '"+file)
		if dialled && played {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("full.log: Dial with A(%s) %v, announcement played %v", file, dialled, played)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

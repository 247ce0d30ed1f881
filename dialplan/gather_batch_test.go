package dialplan

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/callscreen/callscreen/screening"
)

// batchReader evaluates batchExpr like Asterisk's EVAL would, from vals:
// each ${BASE64_ENCODE(x${NAME})} becomes base64("x" + value).
type batchReader struct {
	fakeReader
	fail    error
	batches int
}

func (r *batchReader) GetBatch(_ context.Context, names []string) ([]string, []bool, error) {
	r.batches++
	if r.fail != nil {
		return nil, nil, r.fail
	}
	expr := batchExpr(names)
	out := expr
	for _, n := range names {
		out = strings.Replace(out, "${BASE64_ENCODE(x${"+n+"})}", base64.StdEncoding.EncodeToString([]byte("x"+r.vals[n])), 1)
	}
	return parseBatch(out, len(names))
}

func TestGatherBatch(t *testing.T) {
	vals := map[string]string{
		readPres:      "allowed_not_screened",
		readFrom:      `"A, B" <sip:0312345678@203.0.113.10>;tag=1`,
		readUserAgent: "evil ${SHELL(id)} ) , x",
		readSource:    "203.0.113.10:5060",
		readStirCount: "0",
	}
	r := &batchReader{fakeReader: fakeReader{vals: vals}}
	f, err := Gather(context.Background(), r, screening.Facts{Number: "0312345678"}, GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.batches != 1 || len(r.reads) != 0 {
		t.Errorf("%d batches and %d single reads, want 1 and 0", r.batches, len(r.reads))
	}
	if f.From != vals[readFrom] || f.UserAgent != vals[readUserAgent] || f.Source != vals[readSource] || f.Presentation != vals[readPres] || f.PAI != "" || f.Number != "0312345678" {
		t.Errorf("facts: %+v", f)
	}

	// A batch Asterisk refuses falls back to one read per value.
	r = &batchReader{fakeReader: fakeReader{vals: vals}, fail: errors.New("500 EVAL")}
	f, err = Gather(context.Background(), r, screening.Facts{}, GatherOptions{})
	if err != nil || f.UserAgent != vals[readUserAgent] || !r.read(readFrom) {
		t.Errorf("fallback: err %v, facts %+v", err, f)
	}

	// A hangup does not.
	r = &batchReader{fakeReader: fakeReader{vals: vals}, fail: ErrHangup}
	if _, err = Gather(context.Background(), r, screening.Facts{}, GatherOptions{}); !errors.Is(err, ErrHangup) || len(r.reads) != 0 {
		t.Errorf("hangup: err %v, %d single reads", err, len(r.reads))
	}
}

func TestParseBatch(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	v, ok, err := parseBatch(enc("xa,b")+","+enc("x"), 2)
	if err != nil || v[0] != "a,b" || !ok[0] || ok[1] {
		t.Errorf("parseBatch: %q %v %v", v, ok, err)
	}
	for _, bad := range []string{enc("xa"), enc("a") + "," + enc("x"), "!!," + enc("x")} {
		if _, _, err := parseBatch(bad, 2); err == nil {
			t.Errorf("parseBatch(%q) accepted", bad)
		}
	}
}

package dialplan

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// fakeReader answers from a map; names not in it are absent.
type fakeReader struct {
	vals map[string]string
	errs map[string]error
	// slow names block until release is closed, ignoring ctx, as a
	// misbehaving reader would.
	slow    map[string]bool
	release chan struct{}

	mu    sync.Mutex
	reads []string
}

func (r *fakeReader) Get(_ context.Context, name string) (string, bool, error) {
	r.mu.Lock()
	r.reads = append(r.reads, name)
	r.mu.Unlock()
	if r.slow[name] {
		<-r.release
	}
	if err := r.errs[name]; err != nil {
		return "", false, err
	}
	v, ok := r.vals[name]
	return v, ok, nil
}

func (r *fakeReader) read(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.reads {
		if n == name {
			return true
		}
	}
	return false
}

func TestGather(t *testing.T) {
	full := map[string]string{
		"CALLERID(num)":                          "0312345678",
		"CALLERID(name)":                         "Yamada",
		"CALLERID(pres)":                         "allowed_not_screened",
		"PJSIP_HEADER(read,From)":                `"Yamada" <sip:0312345678@203.0.113.10>;tag=1`,
		"PJSIP_HEADER(read,P-Asserted-Identity)": "<sip:+81312345678@203.0.113.10;verstat=TN-Validation-Passed>",
		"PJSIP_HEADER(read,User-Agent)":          "carrier-sbc",
		"CHANNEL(pjsip,remote_addr)":             "203.0.113.10:5060",
		"CHANNEL(endpoint)":                      "provider",
		"STIR_SHAKEN(count)":                     "2",
		"STIR_SHAKEN(0,attestation)":             "A",
		"STIR_SHAKEN(0,verify_result)":           "success",
		"STIR_SHAKEN(1,attestation)":             "C",
	}
	base := screening.Facts{ID: "c1", Called: "0501234567"}
	tests := []struct {
		name    string
		r       *fakeReader
		base    screening.Facts
		want    screening.Facts
		wantErr bool
		notRead []string
	}{
		{
			name: "everything present",
			r:    &fakeReader{vals: full},
			base: base,
			want: screening.Facts{ID: "c1", Called: "0501234567", Number: "0312345678", Name: "Yamada",
				Presentation: "allowed_not_screened", From: full["PJSIP_HEADER(read,From)"],
				PAI: full["PJSIP_HEADER(read,P-Asserted-Identity)"], UserAgent: "carrier-sbc",
				Source: "203.0.113.10:5060", Trunk: "provider",
				Stir: []screening.StirResult{{Attestation: "A", VerifyResult: "success"}, {Attestation: "C"}}},
		},
		{
			name:    "absent headers stay empty and STIR is not read without a count",
			r:       &fakeReader{vals: map[string]string{"CALLERID(num)": "anonymous", "STIR_SHAKEN(count)": "0"}},
			base:    base,
			want:    screening.Facts{ID: "c1", Called: "0501234567", Number: "anonymous"},
			notRead: []string{"STIR_SHAKEN(0,attestation)"},
		},
		{
			name:    "fields the front end knows are not read again",
			r:       &fakeReader{vals: full},
			base:    screening.Facts{ID: "c1", Number: "100", Name: "scanner"},
			want:    screening.Facts{ID: "c1", Number: "100", Name: "scanner", Presentation: "allowed_not_screened", From: full["PJSIP_HEADER(read,From)"], PAI: full["PJSIP_HEADER(read,P-Asserted-Identity)"], UserAgent: "carrier-sbc", Source: "203.0.113.10:5060", Trunk: "provider", Stir: []screening.StirResult{{Attestation: "A", VerifyResult: "success"}, {Attestation: "C"}}},
			notRead: []string{"CALLERID(num)", "CALLERID(name)"},
		},
		{
			name:    "a failing read is reported, the rest is kept",
			r:       &fakeReader{vals: map[string]string{"CALLERID(num)": "0312345678"}, errs: map[string]error{"CHANNEL(endpoint)": errors.New("HTTP 502")}},
			base:    base,
			want:    screening.Facts{ID: "c1", Called: "0501234567", Number: "0312345678"},
			wantErr: true,
		},
		{
			name: "huge values are cut",
			r:    &fakeReader{vals: map[string]string{"CALLERID(name)": strings.Repeat("あ", 3000)}},
			base: base,
			want: screening.Facts{ID: "c1", Called: "0501234567", Name: strings.Repeat("あ", 682)},
		},
		{
			name: "absurd STIR count is bounded",
			r:    &fakeReader{vals: map[string]string{"STIR_SHAKEN(count)": "1000000"}},
			base: base,
			want: screening.Facts{ID: "c1", Called: "0501234567", Stir: make([]screening.StirResult, maxStir)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Gather(context.Background(), tt.r, tt.base, GatherOptions{})
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if !factsEqual(got, tt.want) {
				t.Errorf("facts:\n got %+v\nwant %+v", got, tt.want)
			}
			for _, n := range tt.notRead {
				if tt.r.read(n) {
					t.Errorf("%s was read", n)
				}
			}
		})
	}
}

func factsEqual(a, b screening.Facts) bool {
	return reflect.DeepEqual(a, b)
}

func TestGatherTimebox(t *testing.T) {
	r := &fakeReader{
		vals:    map[string]string{"CALLERID(num)": "0312345678", "PJSIP_HEADER(read,User-Agent)": "friendly-scanner"},
		slow:    map[string]bool{"PJSIP_HEADER(read,User-Agent)": true},
		release: make(chan struct{}),
	}
	defer close(r.release)
	start := time.Now()
	got, err := Gather(context.Background(), r, screening.Facts{}, GatherOptions{Timeout: 50 * time.Millisecond})
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Gather took %s with a 50ms timebox", d)
	}
	if got.Number != "0312345678" {
		t.Errorf("number = %q; the fast reads must survive a slow one", got.Number)
	}
	if got.UserAgent != "" {
		t.Errorf("user agent = %q, want empty (not read in time)", got.UserAgent)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "User-Agent") {
		t.Errorf("err = %v, want the unread User-Agent reported as a deadline", err)
	}
}

func TestGatherHangup(t *testing.T) {
	r := &fakeReader{errs: map[string]error{"CALLERID(pres)": ErrHangup}}
	_, err := Gather(context.Background(), r, screening.Facts{}, GatherOptions{})
	if !errors.Is(err, ErrHangup) {
		t.Errorf("err = %v, want ErrHangup", err)
	}
}

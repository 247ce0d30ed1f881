package admin

import (
	"fmt"
	"golang.org/x/text/encoding/japanese"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

func callIDs(t *testing.T, ts *testServer, query string) (string, callsReply) {
	t.Helper()
	w := ts.do(t, req{method: "GET", path: "/api/calls" + query, basic: true})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/calls%s = %d %s", query, w.Code, w.Body)
	}
	var r callsReply
	decode(t, w, &r)
	var ids []string
	for _, c := range r.Calls {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, " "), r
}

func TestCalls(t *testing.T) {
	ts := newTestServer(t)
	ts.seedCalls(t)
	for _, tt := range []struct {
		query, want string
		more        bool
	}{
		{"", "c4 c3 c2 c1", false},
		{"?caller=%2B81312345678", "c3 c1", false},
		{"?caller=03-1234-5678", "c3 c1", false}, // national form
		{"?caller=0501", "c4", false},            // part of a national number
		{"?caller=%2B44*", "c2", false},          // prefix
		{"?caller=2079", "c2", false},            // digits anywhere
		{"?action=reject", "c2", false},
		{"?outcome=rang", "c3 c1", false},
		{"?since=2026-03-02", "c4 c3 c2", false}, // a date in the server's zone
		{"?until=2026-03-01", "c1", false},       // a date as the end includes that day
		{"?since=2026-03-02T11:00:00%2B09:00", "c4 c3 c2", false},
		{"?since=2026-03-02T11:00:01%2B09:00", "c4 c3", false},
		{"?limit=2", "c4 c3", true},
		{"?limit=2&offset=2", "c2 c1", false},
		{"?action=ring&caller=0312345678&limit=1", "c3", true},
	} {
		t.Run(tt.query, func(t *testing.T) {
			ids, r := callIDs(t, ts, tt.query)
			if ids != tt.want || r.More != tt.more {
				t.Errorf("calls = %q more=%v, want %q more=%v", ids, r.More, tt.want, tt.more)
			}
		})
	}
	// No calls is an empty list, not null.
	w := ts.do(t, req{method: "GET", path: "/api/calls?caller=%2B1999", basic: true})
	if !strings.Contains(w.Body.String(), `"calls":[]`) {
		t.Errorf("empty result = %s", w.Body)
	}
}

// TestCallsNational: the call log names each domestic caller's national
// format for the page (which keeps E.164 on hover); foreign callers have
// none.
func TestCallsNational(t *testing.T) {
	ts := newTestServer(t)
	ts.seedCalls(t)
	_, r := callIDs(t, ts, "")
	if got := r.National["+81312345678"]; got != "03-1234-5678" {
		t.Errorf("national[+81312345678] = %q, want 03-1234-5678 (all: %v)", got, r.National)
	}
	for n := range r.National {
		if !strings.HasPrefix(n, "+81") {
			t.Errorf("national format given for the foreign number %s", n)
		}
	}
}

func TestCallsBadInput(t *testing.T) {
	ts := newTestServer(t)
	for _, tt := range []struct{ query, msg string }{
		{"?action=bogus", "unknown action"},
		{"?outcome=bogus", "unknown outcome"},
		{"?since=yesterday", "since"},
		{"?until=2026-13-01", "until"},
		{"?since=2026-03-02&until=2026-03-01", "until must be after since"},
		{"?limit=0", "limit"},
		{"?limit=501", "limit"},
		{"?limit=ten", "limit"},
		{"?offset=-1", "offset"},
		{"?callr=1", "unknown parameter"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			wantError(t, ts.do(t, req{method: "GET", path: "/api/calls" + tt.query, basic: true}), http.StatusBadRequest, tt.msg)
		})
	}
}

func TestCall(t *testing.T) {
	ts := newTestServer(t)
	ts.seedCalls(t)
	w := ts.do(t, req{method: "GET", path: "/api/calls/c2", basic: true})
	var rec screening.Record
	decode(t, w, &rec)
	if w.Code != http.StatusOK || rec.ID != "c2" || rec.Verdict.Action != screening.Reject || len(rec.Verdict.Findings) != 2 {
		t.Errorf("GET /api/calls/c2 = %d %+v", w.Code, rec)
	}
	wantError(t, ts.do(t, req{method: "GET", path: "/api/calls/nope", basic: true}), http.StatusNotFound, `no call with id "nope"`)
}

// TestCallerNameEscaped: a caller-controlled display name comes back as a
// JSON string with the markup characters escaped.
func TestCallerNameEscaped(t *testing.T) {
	ts := newTestServer(t)
	ts.seedCalls(t)
	for _, path := range []string{"/api/calls", "/api/calls/c4"} {
		w := ts.do(t, req{method: "GET", path: path, basic: true})
		body := w.Body.String()
		if strings.Contains(body, "<script>") {
			t.Errorf("%s: raw <script> in the reply", path)
		}
		if !strings.Contains(body, `\u003cscript\u003ealert(1)\u003c/script\u003e`) {
			t.Errorf("%s: the name is not JSON-escaped: %s", path, body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
	_, r := callIDs(t, ts, "?caller=0501")
	if len(r.Calls) != 1 || r.Calls[0].Facts.Name != "<script>alert(1)</script>" {
		t.Errorf("the name does not survive the round trip: %+v", r.Calls)
	}
}

func TestSummary(t *testing.T) {
	ts := newTestServer(t)
	ts.seedCalls(t)
	w := ts.do(t, req{method: "GET", path: "/api/summary", basic: true})
	var s summaryReply
	decode(t, w, &s)
	if w.Code != http.StatusOK || s.Calls != 4 || s.ByAction[screening.Ring] != 2 || s.ByAction[screening.Reject] != 1 {
		t.Fatalf("summary = %d %+v", w.Code, s)
	}
	if len(s.Days) != defaultDays || s.Days[0].Date != "2026-02-17" || s.Days[13].Date != "2026-03-02" {
		t.Errorf("days = %+v, want 14 ending today", s.Days)
	}
	if s.Days[12].Calls != 1 || s.Days[13].Calls != 3 || s.Days[13].ByAction[screening.Voicemail] != 1 {
		t.Errorf("last two days = %+v %+v", s.Days[12], s.Days[13])
	}
	if len(s.Indicators) != 3 || s.TimeZone != "JST" {
		t.Errorf("indicators %+v, zone %q", s.Indicators, s.TimeZone)
	}

	w = ts.do(t, req{method: "GET", path: "/api/summary?since=2026-03-02&until=2026-03-02", basic: true})
	decode(t, w, &s)
	if s.Calls != 3 || len(s.Days) != 1 {
		t.Errorf("one day: %+v", s)
	}

	for _, tt := range []struct{ query, msg string }{
		{"?since=last+week", "since"},
		{"?since=2026-03-02&until=2026-03-01", "until must be after since"},
		{"?since=2024-01-01&until=2026-01-01", "longer than"},
		{"?from=2026-01-01", "unknown parameter"},
	} {
		wantError(t, ts.do(t, req{method: "GET", path: "/api/summary" + tt.query, basic: true}), http.StatusBadRequest, tt.msg)
	}
}

func TestState(t *testing.T) {
	ts := newTestServer(t)
	w := ts.do(t, req{method: "GET", path: "/api/state", basic: true})
	var s stateReply
	decode(t, w, &s)
	if s.Version != "1.2.3" || !s.ARIConnected || s.UptimeSeconds != 3600 || s.User != testUser || s.Lists[screening.Allow] != 0 {
		t.Errorf("state = %+v", s)
	}
}

func TestListPut(t *testing.T) {
	ts := newTestServer(t)
	cookie, csrf := ts.login(t)
	post := func(kind, body string) (int, putReply, string) {
		w := ts.do(t, req{method: "POST", path: "/api/lists/" + kind, body: body, cookie: cookie, csrf: csrf})
		var r putReply
		if w.Code == http.StatusCreated {
			decode(t, w, &r)
		}
		return w.Code, r, w.Body.String()
	}

	// National form is normalised; the live lists see the entry at once.
	code, r, body := post("block", `{"number":"050-1234-5678","reason":"called 9 times","expires":"7d"}`)
	if code != http.StatusCreated || r.Entry.Number != "+815012345678" || r.Entry.Source != screening.SourceOperator ||
		!r.Entry.Expires.Equal(t0.AddDate(0, 0, 7)) || r.Entry.Reason != "called 9 times" {
		t.Fatalf("POST block = %d %s", code, body)
	}
	if _, ok := ts.lists.Lookup(screening.Block, "+815012345678", t0); !ok {
		t.Error("the live lists do not hold the new block entry")
	}
	if e, _ := ts.st.Entries(t.Context(), listFilter(screening.Block)); len(e) != 1 {
		t.Errorf("store holds %v", e)
	}

	// Allow with exclusive takes it off the block list, in the store and live.
	code, r, body = post("allow", `{"number":"+815012345678","exclusive":true}`)
	if code != http.StatusCreated || r.RemovedFrom != screening.Block {
		t.Fatalf("POST allow exclusive = %d %s", code, body)
	}
	if _, ok := ts.lists.Lookup(screening.Block, "+815012345678", t0); ok {
		t.Error("still blocked in the live lists")
	}
	if _, ok := ts.lists.Lookup(screening.Allow, "+815012345678", t0); !ok {
		t.Error("not allowed in the live lists")
	}
	if n, _ := ts.st.Count(t.Context(), screening.Block); n != 0 {
		t.Errorf("block list holds %d entries", n)
	}
	// Without exclusive, the other list is left alone.
	post("block", `{"number":"+81312345678"}`)
	if code, r, _ = post("allow", `{"number":"+81312345678"}`); code != http.StatusCreated || r.RemovedFrom != "" {
		t.Errorf("non-exclusive allow removed from %q", r.RemovedFrom)
	}
	// Prefix patterns and dno.
	if code, r, body = post("dno", `{"number":"+81120*"}`); code != http.StatusCreated || r.Entry.Number != "+81120*" {
		t.Errorf("POST dno prefix = %d %s", code, body)
	}

	before, _ := ts.st.ListsVersion(t.Context())
	for _, tt := range []struct {
		name, kind, body string
		status           int
		msg              string
	}{
		{"unknown list", "friends", `{"number":"+81312345678"}`, 400, "unknown list"},
		{"no number", "block", `{"reason":"x"}`, 400, "number: required"},
		{"not a number", "block", `{"number":"hello"}`, 400, "not a telephone number"},
		{"bad E.164", "block", `{"number":"+0123"}`, 400, "not a valid E.164"},
		{"bad prefix", "block", `{"number":"03*"}`, 400, "E.164"},
		{"bad expiry", "block", `{"number":"+81312345679","expires":"soon"}`, 400, "expires"},
		{"past expiry", "block", `{"number":"+81312345679","expires":"2020-01-01"}`, 400, "not in the future"},
		{"long reason", "block", `{"number":"+81312345679","reason":"` + strings.Repeat("あ", 201) + `"}`, 400, "longer than 200"},
		{"control characters", "block", `{"number":"+81312345679","reason":"a\u0007b"}`, 400, "control"},
		{"unknown field", "block", `{"number":"+81312345679","kind":"allow"}`, 400, "unknown field"},
		{"not JSON", "block", `number=+81312345679`, 400, "bad JSON"},
		{"two objects", "block", `{"number":"+81312345679"}{}`, 400, "after the object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := ts.do(t, req{method: "POST", path: "/api/lists/" + tt.kind, body: tt.body, cookie: cookie, csrf: csrf})
			wantError(t, w, tt.status, tt.msg)
		})
	}
	w := ts.do(t, req{method: "POST", path: "/api/lists/block", body: `{"number":"+81312345679"}`, contentType: "text/plain", cookie: cookie, csrf: csrf})
	wantError(t, w, http.StatusUnsupportedMediaType, "application/json")
	if after, _ := ts.st.ListsVersion(t.Context()); after != before {
		t.Error("bad requests changed the lists")
	}
}

func listFilter(k screening.ListKind) store.ListFilter { return store.ListFilter{Kind: k, Now: t0} }

func TestListEntriesAndDelete(t *testing.T) {
	ts := newTestServer(t)
	for _, n := range []string{"+81312345678", "+81312345679", "+815011112222", "+4470*"} {
		ts.do(t, req{method: "POST", path: "/api/lists/block", body: `{"number":"` + n + `","reason":"r"}`, basic: true})
	}
	get := func(query string) entriesReply {
		w := ts.do(t, req{method: "GET", path: "/api/lists/block" + query, basic: true})
		var r entriesReply
		decode(t, w, &r)
		return r
	}
	if r := get(""); len(r.Entries) != 4 || r.Total != 4 || r.More {
		t.Errorf("entries = %+v", r)
	}
	if r := get("?prefix=%2B8131&limit=1"); len(r.Entries) != 1 || !r.More || r.Entries[0].Number != "+81312345678" {
		t.Errorf("prefix, limit 1 = %+v", r)
	}
	for _, q := range []string{"?prefix=abc", "?limit=0", "?expired=maybe", "?sort=number"} {
		w := ts.do(t, req{method: "GET", path: "/api/lists/block" + q, basic: true})
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", q, w.Code)
		}
	}

	// Delete by path (the '+' kept), by query (an unencoded '+' arrives
	// as a space), in national form, and a prefix pattern.
	for _, path := range []string{
		"/api/lists/block/+81312345678",
		"/api/lists/block?number=+81312345679",
		"/api/lists/block/050-1111-2222",
		"/api/lists/block/" + url.PathEscape("+4470*"),
	} {
		w := ts.do(t, req{method: "DELETE", path: path, basic: true})
		if w.Code != http.StatusOK {
			t.Errorf("DELETE %s = %d %s", path, w.Code, w.Body)
		}
	}
	if r := get(""); len(r.Entries) != 0 {
		t.Errorf("left after deleting: %+v", r.Entries)
	}
	if _, ok := ts.lists.Lookup(screening.Block, "+81312345678", time.Now()); ok {
		t.Error("a deleted entry is still live")
	}
	wantError(t, ts.do(t, req{method: "DELETE", path: "/api/lists/block/+81312345678", basic: true}), http.StatusNotFound, "is not on the block list")
	wantError(t, ts.do(t, req{method: "DELETE", path: "/api/lists/block?number=junk", basic: true}), http.StatusBadRequest, "number")
	wantError(t, ts.do(t, req{method: "DELETE", path: "/api/lists/block", basic: true}), http.StatusBadRequest, "number: required")
}

func TestImportExport(t *testing.T) {
	ts := newTestServer(t)
	good := "number,reason,expires\n03-1234-5678,customer\n+819012345678,clinic,2099-12-31\n# a comment\n\n+4470*,UK\n"
	w := ts.do(t, req{method: "POST", path: "/api/lists/allow/import", body: good, contentType: "text/csv", basic: true})
	var rep importReply
	decode(t, w, &rep)
	if w.Code != http.StatusOK || rep.Imported != 3 || rep.Added != 3 || rep.BadLines != 0 {
		t.Fatalf("import = %d %+v", w.Code, rep)
	}

	// One bad line: nothing is imported, and the line is reported.
	bad := "+815011112222,ok\nnot-a-number,bad\n+815011113333\n"
	w = ts.do(t, req{method: "POST", path: "/api/lists/block/import", body: bad, contentType: "text/csv; charset=utf-8", basic: true})
	decode(t, w, &rep)
	if w.Code != http.StatusUnprocessableEntity || rep.BadLines != 1 || len(rep.Bad) != 1 || rep.Bad[0].Line != 2 || !strings.Contains(rep.Error, "nothing was imported") {
		t.Errorf("bad import = %d %+v", w.Code, rep)
	}
	if n, _ := ts.st.Count(t.Context(), screening.Block); n != 0 {
		t.Errorf("a failed import left %d entries", n)
	}
	// skip_bad imports the good lines.
	w = ts.do(t, req{method: "POST", path: "/api/lists/block/import?skip_bad=true", body: bad, contentType: "text/plain", basic: true})
	decode(t, w, &rep)
	if w.Code != http.StatusOK || rep.Imported != 2 || rep.BadLines != 1 {
		t.Errorf("skip_bad import = %d %+v", w.Code, rep)
	}

	wantError(t, ts.do(t, req{method: "POST", path: "/api/lists/block/import", body: `{"number":"+1"}`, contentType: "application/json", basic: true}),
		http.StatusUnsupportedMediaType, "text/csv")
	wantError(t, ts.do(t, req{method: "POST", path: "/api/lists/block/import?skip=1", body: bad, contentType: "text/csv", basic: true}),
		http.StatusBadRequest, "unknown parameter")
	wantError(t, ts.do(t, req{method: "POST", path: "/api/lists/nope/import", body: bad, contentType: "text/csv", basic: true}),
		http.StatusBadRequest, "unknown list")

	w = ts.do(t, req{method: "GET", path: "/api/lists/allow/export", basic: true})
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(w.Header().Get("Content-Disposition"), "callscreen-allow-20260302.csv") {
		t.Fatalf("export = %d %v", w.Code, w.Header())
	}
	for _, want := range []string{"+81312345678,customer", "+819012345678,clinic,2099-12-31", "+4470*,UK"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("export lacks %q:\n%s", want, w.Body)
		}
	}
}

// TestImportShiftJIS: a CSV saved by Excel in Japan (Shift_JIS, CP932)
// imports with its Japanese reasons intact, and the reply names the
// encoding.
func TestImportShiftJIS(t *testing.T) {
	ts := newTestServer(t)
	csv, err := japanese.ShiftJIS.NewEncoder().String("number,reason\n03-1234-5678,髙橋クリニック（取引先）\n090-1234-5678,ヤマダ様\n")
	if err != nil {
		t.Fatal(err)
	}
	w := ts.do(t, req{method: "POST", path: "/api/lists/allow/import", body: csv, contentType: "text/csv", basic: true})
	var rep importReply
	decode(t, w, &rep)
	if w.Code != http.StatusOK || rep.Imported != 2 || rep.Encoding != "Shift_JIS (CP932)" {
		t.Fatalf("import = %d %+v", w.Code, rep)
	}
	w = ts.do(t, req{method: "GET", path: "/api/lists/allow/export", basic: true})
	if !strings.Contains(w.Body.String(), "+81312345678,髙橋クリニック（取引先）") {
		t.Errorf("export lacks the decoded reason:\n%s", w.Body)
	}
}

func TestImportTooLarge(t *testing.T) {
	ts := newTestServer(t)
	ts.opts.MaxImportBytes = 64
	body := strings.Repeat("+81312345678\n", 20)
	wantError(t, ts.do(t, req{method: "POST", path: "/api/lists/block/import", body: body, contentType: "text/csv", basic: true}),
		http.StatusRequestEntityTooLarge, "larger than")
	if n, _ := ts.st.Count(t.Context(), screening.Block); n != 0 {
		t.Errorf("a refused import left %d entries", n)
	}
}

// TestImportOutlivesReadTimeout: behind a server whose read timeout is
// shorter than an upload takes, an import still completes (it extends its
// own deadline), while another request whose body stalls as long is cut.
func TestImportOutlivesReadTimeout(t *testing.T) {
	ts := newTestServer(t)
	srv := httptest.NewUnstartedServer(ts.h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	// slowPost sends head, pauses well past the read timeout, then sends
	// tail.
	slowPost := func(path, ct, head, tail string) (int, error) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(head))
			time.Sleep(1500 * time.Millisecond)
			pw.Write([]byte(tail))
			pw.Close()
		}()
		hr, err := http.NewRequest("POST", srv.URL+path, pr)
		if err != nil {
			return 0, err
		}
		hr.ContentLength = int64(len(head) + len(tail))
		hr.Header.Set("Content-Type", ct)
		hr.SetBasicAuth(testUser, testPass)
		resp, err := srv.Client().Do(hr)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := slowPost("/api/lists/block/import", "text/csv", "+81312345678,first\n", "+81312345679,second\n"); err != nil || code != http.StatusOK {
		t.Errorf("slow import = %d, %v; want 200", code, err)
	}
	if n, _ := ts.st.Count(t.Context(), screening.Block); n != 2 {
		t.Errorf("%d entries imported, want 2", n)
	}
	if code, err := slowPost("/api/lists/block", "application/json", `{"number":`, `"+81312345670"}`); err == nil && code < 400 {
		t.Errorf("a list change whose body stalled past the read timeout = %d, want it cut", code)
	}
}

// TestImportRefusesWhatPutRefuses: the API's list change and its import
// share one validator; a UTF-16 upload is a client error, not a 500.
func TestImportRefusesWhatPutRefuses(t *testing.T) {
	ts := newTestServer(t)
	for _, reason := range []string{"\u202eevil", "bell\x07", strings.Repeat("x", screening.MaxReasonLen+1)} {
		body := fmt.Sprintf(`{"number":"+81312345678","reason":%q}`, reason)
		if w := ts.do(t, req{method: "POST", path: "/api/lists/block", body: body, basic: true}); w.Code != http.StatusBadRequest {
			t.Errorf("PUT reason %q = %d, want 400", reason, w.Code)
		}
		csv := "+81312345678,\"" + reason + "\"\n"
		if w := ts.do(t, req{method: "POST", path: "/api/lists/block/import", body: csv, contentType: "text/csv", basic: true}); w.Code != http.StatusUnprocessableEntity {
			t.Errorf("import reason %q = %d, want 422", reason, w.Code)
		}
	}
	w := ts.do(t, req{method: "POST", path: "/api/lists/allow/import", body: "number,reason,expires,source\n+81312345678,x,,callback\n", contentType: "text/csv", basic: true})
	if w.Code != http.StatusUnprocessableEntity {
		t.Errorf("import of a never-expiring callback = %d, want 422", w.Code)
	}
	u := utf16.Encode([]rune("\ufeffnumber,reason\r\n+81312345678,x\r\n"))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	wantError(t, ts.do(t, req{method: "POST", path: "/api/lists/block/import", body: string(b), contentType: "text/csv", basic: true}),
		http.StatusUnsupportedMediaType, "UTF-16")
	if n, _ := ts.st.Count(t.Context(), screening.Block); n != 0 {
		t.Errorf("%d entries added", n)
	}
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callscreen/callscreen/internal/textenc"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// Limits of the API.
const (
	maxCallsLimit   = 500
	maxEntriesLimit = 1000
	defaultDays     = 14
)

// outcomes are the call log's outcomes, for validating filters.
var outcomes = []screening.Outcome{
	screening.OutcomeRang, screening.OutcomeVoicemail, screening.OutcomeAnnounced, screening.OutcomeRejected,
	screening.OutcomeDropped, screening.OutcomeChallengePassed, screening.OutcomeChallengeFailed,
	screening.OutcomeAbandoned, screening.OutcomeError,
}

// badRequest is an error in the request that the client must fix.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// unsupportedMedia is a request body of the wrong content type.
type unsupportedMedia struct{ msg string }

func (e unsupportedMedia) Error() string { return e.msg }

// fail answers err: 400 for a bad request or body, 403 for what the
// login may not do, 413 for a body too large, 415 for a body of the wrong
// type, 500 otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		br  badRequest
		fb  forbidden
		um  unsupportedMedia
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &fb):
		writeError(w, http.StatusForbidden, fb.msg)
	case errors.As(err, &um):
		writeError(w, http.StatusUnsupportedMediaType, um.msg)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, br.msg)
	default:
		s.internalError(w, r, err)
	}
}

// ---- state ----------------------------------------------------------------

// stateReply is GET /api/state.
type stateReply struct {
	State
	Now           time.Time `json:"now"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	TimeZone      string    `json:"time_zone"`
	User          string    `json:"user"`
	// Role is the login's: "operator" or "integrator" (the fleet view).
	Role role `json:"role"`
	// Server and Tenant name this server in the fleet and the customer it
	// screens for; empty on a server without them.
	Server string `json:"server"`
	Tenant string `json:"tenant"`
}

func (s *Server) state(w http.ResponseWriter, r *http.Request, c caller) {
	var st State
	if s.opts.State != nil {
		st = s.opts.State()
	}
	if st.Lists == nil && s.opts.Lists != nil {
		snap := s.opts.Lists.Snapshot()
		st.Lists = map[screening.ListKind]int{
			screening.Allow: snap.Len(screening.Allow), screening.Block: snap.Len(screening.Block),
			screening.DoNotOriginate: snap.Len(screening.DoNotOriginate),
		}
	}
	now := s.opts.Now()
	reply := stateReply{State: st, Now: now, TimeZone: zoneName(s.opts.Location, now), User: c.user,
		Role: c.role, Server: s.opts.Server, Tenant: s.opts.Tenant}
	if !st.Started.IsZero() {
		reply.UptimeSeconds = int64(now.Sub(st.Started).Seconds())
	}
	writeJSON(w, http.StatusOK, reply)
}

// ---- the call log -------------------------------------------------------------

// callsReply is GET /api/calls.
type callsReply struct {
	Calls  []screening.Record `json:"calls"`
	Limit  int                `json:"limit"`
	Offset int                `json:"offset"`
	// More says that older calls match too (fetch with a larger offset).
	More bool `json:"more"`
	// National maps each caller's E.164 number to the business's national
	// format ("03-5555-0000"), for numbers of its own country; the page
	// shows that and keeps E.164 on hover.
	National map[string]string `json:"national,omitempty"`
}

func (s *Server) calls(w http.ResponseWriter, r *http.Request, c caller) {
	f, err := s.recordFilter(r.URL.Query())
	if err == nil {
		f.Tenant, err = s.callsTenant(c, f.Tenant)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more, to tell whether there are more
	recs, err := s.opts.Store.Records(r.Context(), f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	reply := callsReply{Calls: recs, Limit: limit, Offset: f.Offset}
	if len(recs) > limit {
		reply.Calls, reply.More = recs[:limit], true
	}
	if reply.Calls == nil {
		reply.Calls = []screening.Record{}
	}
	if s.opts.National != nil {
		for _, c := range reply.Calls {
			n := c.Verdict.Caller
			if n == "" || reply.National[n] != "" {
				continue
			}
			if nat := s.opts.National(n); nat != n {
				if reply.National == nil {
					reply.National = map[string]string{}
				}
				reply.National[n] = nat
			}
		}
	}
	writeJSON(w, http.StatusOK, reply)
}

// recordFilter parses the call log query parameters.
func (s *Server) recordFilter(q url.Values) (store.RecordFilter, error) {
	if err := onlyParams(q, "caller", "action", "outcome", "profile", "server", "tenant", "since", "until", "limit", "offset"); err != nil {
		return store.RecordFilter{}, err
	}
	f := store.RecordFilter{Profile: q.Get("profile"), Server: strings.TrimSpace(q.Get("server")), Tenant: strings.TrimSpace(q.Get("tenant"))}
	f.Caller = s.callerFilter(q.Get("caller"))
	if a := q.Get("action"); a != "" {
		act, err := screening.ParseAction(a)
		if err != nil {
			return f, badf("action: %v", err)
		}
		f.Action = act
	}
	if o := q.Get("outcome"); o != "" {
		if !isOutcome(o) {
			return f, badf("outcome: unknown outcome %q (want one of %s)", o, outcomeNames())
		}
		f.Outcome = screening.Outcome(o)
	}
	var err error
	if f.Since, err = s.parseTime("since", q.Get("since"), false); err != nil {
		return f, err
	}
	if f.Until, err = s.parseTime("until", q.Get("until"), true); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, badf("until must be after since")
	}
	if f.Limit, err = intParam(q, "limit", store.DefaultRecordLimit, 1, maxCallsLimit); err != nil {
		return f, err
	}
	if f.Offset, err = intParam(q, "offset", 0, 0, 1<<30); err != nil {
		return f, err
	}
	return f, nil
}

// callerFilter turns what an operator types into the store's caller
// filter: a national number becomes E.164 ("03-1234-5678" finds
// "+81312345678"), a part of one drops its trunk prefix ("0312" finds
// "+81312..."), and anything else is searched as typed.
func (s *Server) callerFilter(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || strings.HasSuffix(v, "*") {
		return v
	}
	clean := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, v)
	if !strings.HasPrefix(clean, "0") || strings.TrimLeft(clean, "0123456789") != "" {
		return clean
	}
	if s.opts.Normalize != nil {
		if e164, err := s.opts.Normalize(clean); err == nil && strings.HasPrefix(e164, "+") {
			return e164
		}
	}
	if t := strings.TrimLeft(clean, "0"); t != "" {
		return t
	}
	return clean
}

func (s *Server) call(w http.ResponseWriter, r *http.Request, c caller) {
	rec, err := s.opts.Store.Record(r.Context(), r.PathValue("id"))
	if own, confined := s.confinedTo(c); err == nil && confined && rec.Tenant != own {
		err = store.ErrNotFound // another tenant's call is none of this login's
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no call with id %q", r.PathValue("id")))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// ---- summary -----------------------------------------------------------------

// summaryReply is GET /api/summary.
type summaryReply struct {
	Since      time.Time                 `json:"since"`
	Until      time.Time                 `json:"until"`
	TimeZone   string                    `json:"time_zone"`
	Calls      int                       `json:"calls"`
	ByAction   map[screening.Action]int  `json:"by_action"`
	ByOutcome  map[screening.Outcome]int `json:"by_outcome"`
	Indicators []indicatorCount          `json:"indicators"`
	Monitor    int                       `json:"monitor"`
	WouldHave  map[screening.Action]int  `json:"would_have"`
	Days       []dayCount                `json:"days"`
}

type indicatorCount struct {
	Name  string `json:"name"`
	Calls int    `json:"calls"`
}

type dayCount struct {
	Date     string                   `json:"date"` // YYYY-MM-DD in time_zone
	Calls    int                      `json:"calls"`
	ByAction map[screening.Action]int `json:"by_action"`
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	if err := onlyParams(q, "since", "until"); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now().In(s.opts.Location)
	since, err := s.parseTime("since", q.Get("since"), false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	until, err := s.parseTime("until", q.Get("until"), true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if until.IsZero() {
		until = now
	}
	if since.IsZero() {
		y, m, d := until.Add(-time.Nanosecond).In(s.opts.Location).Date()
		since = time.Date(y, m, d-(defaultDays-1), 0, 0, 0, 0, s.opts.Location)
	}
	if !until.After(since) {
		s.fail(w, r, badf("until must be after since"))
		return
	}
	if until.Sub(since) > (store.MaxDays-1)*24*time.Hour {
		s.fail(w, r, badf("the period is longer than %d days", store.MaxDays-1))
		return
	}
	// A tenant's login counts its tenant's calls; "" counts every call.
	tenant, _ := s.confinedTo(c)
	sum, err := s.opts.Store.SummaryFor(r.Context(), since, until, tenant)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	days, err := s.opts.Store.DailyCountsFor(r.Context(), since, until, s.opts.Location, tenant)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	reply := summaryReply{
		Since: since, Until: until, TimeZone: zoneName(s.opts.Location, until),
		Calls: sum.Calls, ByAction: sum.ByAction, ByOutcome: sum.ByOutcome,
		Indicators: []indicatorCount{}, Monitor: sum.Monitor, WouldHave: sum.WouldHave,
		Days: make([]dayCount, 0, len(days)),
	}
	for _, ic := range sum.Indicators {
		reply.Indicators = append(reply.Indicators, indicatorCount{ic.Name, ic.Calls})
	}
	for _, d := range days {
		reply.Days = append(reply.Days, dayCount{Date: d.Day.Format(time.DateOnly), Calls: d.Calls, ByAction: d.ByAction})
	}
	writeJSON(w, http.StatusOK, reply)
}

// ---- lists ---------------------------------------------------------------------

// entriesReply is GET /api/lists/{kind}.
type entriesReply struct {
	Kind    screening.ListKind `json:"kind"`
	Entries []entryView        `json:"entries"`
	// Total is the number of entries on the list in the scopes shown,
	// expired ones not yet purged included.
	Total  int  `json:"total"`
	Limit  int  `json:"limit"`
	Offset int  `json:"offset"`
	More   bool `json:"more"`
}

func (s *Server) kind(r *http.Request) (screening.ListKind, error) {
	k, err := screening.ParseListKind(r.PathValue("kind"))
	if err != nil {
		return "", badRequest{err.Error()}
	}
	return k, nil
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request, c caller) {
	k, err := s.kind(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if err := onlyParams(q, "prefix", "expired", "scope", "tenant", "limit", "offset"); err != nil {
		s.fail(w, r, err)
		return
	}
	f := store.ListFilter{Kind: k, Prefix: strings.TrimSpace(q.Get("prefix")), Now: s.opts.Now()}
	if f.Tenants, err = s.readScopes(c, q.Get("scope"), q.Get("tenant")); err != nil {
		s.fail(w, r, err)
		return
	}
	if p := f.Prefix; p != "" && (strings.HasPrefix(p, " ") || strings.TrimLeft(strings.TrimPrefix(p, "+"), "0123456789") != "") {
		s.fail(w, r, badf("prefix: %q is not the start of an E.164 number (+ and digits)", p))
		return
	}
	if f.IncludeExpired, err = boolParam(q, "expired"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Limit, err = intParam(q, "limit", 100, 1, maxEntriesLimit); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Offset, err = intParam(q, "offset", 0, 0, 1<<30); err != nil {
		s.fail(w, r, err)
		return
	}
	limit := f.Limit
	f.Limit++
	entries, err := s.opts.Store.Entries(r.Context(), f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	total, err := s.opts.Store.CountIn(r.Context(), k, f.Tenants)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	reply := entriesReply{Kind: k, Entries: []entryView{}, Total: total, Limit: limit, Offset: f.Offset}
	if len(entries) > limit {
		entries, reply.More = entries[:limit], true
	}
	for _, e := range entries {
		reply.Entries = append(reply.Entries, s.view(c, e))
	}
	writeJSON(w, http.StatusOK, reply)
}

// putRequest is the body of POST /api/lists/{kind}.
type putRequest struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
	// Expires is a duration from now ("24h", "7d"), a date ("2026-12-31",
	// the end of which is the expiry) or an RFC 3339 time; empty: never.
	Expires string `json:"expires"`
	// Exclusive removes the number from the opposite list (allow <->
	// block): an allow entry would otherwise override a new block entry.
	Exclusive bool `json:"exclusive"`
	// Scope is "fleet" for an entry that applies to every tenant sharing
	// the database; empty or "tenant" scopes it to this server's tenant,
	// or to Tenant when that is set (the integrator's login only).
	Scope  string `json:"scope"`
	Tenant string `json:"tenant"`
}

// putReply answers POST /api/lists/{kind}.
type putReply struct {
	Entry screening.Entry `json:"entry"`
	// RemovedFrom names the list the number was taken off (Exclusive).
	RemovedFrom screening.ListKind `json:"removed_from,omitempty"`
}

func (s *Server) listPut(w http.ResponseWriter, r *http.Request, c caller) {
	k, err := s.kind(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req putRequest
	if err := decodeJSON(w, r, &req, 16<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	number, err := s.normalize(req.Number)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reason := strings.TrimSpace(req.Reason)
	if err := screening.ValidateReason(reason); err != nil { // as an import checks it
		s.fail(w, r, badf("%v", err))
		return
	}
	expires, err := s.parseExpiry(req.Expires, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant, err := s.writeScope(c, req.Scope, req.Tenant)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e := screening.Entry{Kind: k, Number: number, Expires: expires, Source: screening.SourceOperator, Reason: reason, Created: now, Tenant: tenant}
	if err := s.putEntry(r.Context(), e); err != nil {
		s.notSaved(w, r, err)
		return
	}
	reply := putReply{Entry: e}
	if opp, ok := opposite(k); ok && req.Exclusive {
		removed, err := s.deleteEntry(r.Context(), tenant, opp, number)
		if err != nil {
			s.notSaved(w, r, err)
			return
		}
		if removed {
			reply.RemovedFrom = opp
		}
	}
	s.log.Info("admin: list entry added", "user", c.user, "list", k, "number", number, "tenant", tenant, "expires", expires, "reason", reason, "removed_from", reply.RemovedFrom)
	writeJSON(w, http.StatusCreated, reply)
}

// putEntry and deleteEntry change a list through Options.Lists, or in
// the store alone without it.
func (s *Server) putEntry(ctx context.Context, e screening.Entry) error {
	if s.opts.Lists != nil {
		return s.opts.Lists.Put(ctx, e)
	}
	return s.opts.Store.Put(ctx, e)
}

func (s *Server) deleteEntry(ctx context.Context, tenant string, k screening.ListKind, number string) (bool, error) {
	if s.opts.Lists != nil {
		return s.opts.Lists.Delete(ctx, tenant, k, number)
	}
	removed, _, err := s.opts.Store.DeleteVersion(ctx, tenant, k, number)
	return removed, err
}

// opposite returns the list an entry of kind k contradicts.
func opposite(k screening.ListKind) (screening.ListKind, bool) {
	switch k {
	case screening.Allow:
		return screening.Block, true
	case screening.Block:
		return screening.Allow, true
	}
	return "", false
}

func (s *Server) listDelete(w http.ResponseWriter, r *http.Request, c caller) {
	k, err := s.kind(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw := r.PathValue("number")
	if raw == "" {
		raw = r.URL.Query().Get("number")
		// An unencoded '+' in a query string arrives as a space.
		if strings.HasPrefix(raw, " ") {
			raw = "+" + raw[1:]
		}
	}
	number, err := s.normalize(raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant, err := s.writeScope(c, r.URL.Query().Get("scope"), r.URL.Query().Get("tenant"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	removed, err := s.deleteEntry(r.Context(), tenant, k, number)
	if err != nil {
		s.notSaved(w, r, err)
		return
	}
	if !removed {
		if _, confined := s.confinedTo(c); confined && s.fleetWide(r.Context(), k, number) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s is on the fleet-wide %s list, which is read-only here (the integrator login changes it)", number, k))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s is not on the %s list%s", number, k, scopeWords(tenant, s.opts.Tenant)))
		return
	}
	s.log.Info("admin: list entry removed", "user", c.user, "list", k, "number", number, "tenant", tenant)
	writeJSON(w, http.StatusOK, map[string]string{"removed": number, "kind": string(k)})
}

// importReply answers POST /api/lists/{kind}/import.
type importReply struct {
	Error    string    `json:"error,omitempty"`
	Lines    int64     `json:"lines"`
	Skipped  int64     `json:"skipped"`
	Imported int64     `json:"imported"`
	Added    int64     `json:"added"`
	BadLines int64     `json:"bad_lines"`
	Bad      []badLine `json:"bad"`
	// Encoding is the text encoding the file was read in: ASCII, UTF-8 or
	// Shift_JIS (CP932), as Excel in Japan saves CSV.
	Encoding string `json:"encoding,omitempty"`
}

type badLine struct {
	Line   int64  `json:"line"`
	Text   string `json:"text"`
	Reason string `json:"reason"`
}

func (s *Server) listImport(w http.ResponseWriter, r *http.Request, c caller) {
	k, err := s.kind(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if err := onlyParams(q, "skip_bad", "scope", "tenant"); err != nil {
		s.fail(w, r, err)
		return
	}
	skipBad, err := boolParam(q, "skip_bad")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant, err := s.writeScope(c, q.Get("scope"), q.Get("tenant"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" && !isMediaType(ct, "text/csv") && !isMediaType(ct, "text/plain") && !isMediaType(ct, "application/octet-stream") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("want a CSV body (Content-Type: text/csv), got %q", ct))
		return
	}
	// An upload of MaxImportBytes takes longer than the server's read
	// timeout allows other requests; only this endpoint gets more.
	extendDeadlines(w, transferTimeout)
	body := textenc.NewReader(http.MaxBytesReader(w, r.Body, s.opts.MaxImportBytes))
	rep, err := s.opts.Store.Import(r.Context(), k, body, store.ImportOptions{Normalize: s.opts.Normalize, SkipBad: skipBad, Tenant: tenant})
	reply := importReply{Lines: rep.Lines, Skipped: rep.Skipped, Imported: rep.Imported, Added: rep.Added, BadLines: rep.BadLines, Bad: []badLine{}, Encoding: body.Encoding()}
	for _, b := range rep.Bad {
		reply.Bad = append(reply.Bad, badLine{b.Line, b.Text, b.Reason})
	}
	var (
		ie  *store.ImportError
		ee  *store.EncodingError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ee):
		writeError(w, http.StatusUnsupportedMediaType, ee.Error())
		return
	case errors.As(err, &ie):
		reply.Error = fmt.Sprintf("%d bad line(s); nothing was imported (fix them, or import with skip_bad=true to import the good lines)", ie.Total)
		writeJSON(w, http.StatusUnprocessableEntity, reply)
		return
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %d bytes; import it with `callscreen lists import`", mbe.Limit))
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	s.log.Info("admin: list imported", "user", c.user, "list", k, "tenant", tenant, "imported", rep.Imported, "added", rep.Added, "bad_lines", rep.BadLines, "encoding", body.Encoding())
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) listExport(w http.ResponseWriter, r *http.Request, c caller) {
	k, err := s.kind(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// One scope a file: this server's tenant's unless scope=fleet or
	// tenant=NAME says otherwise (an import takes the file back into
	// one scope).
	scopes, err := s.readScopes(c, r.URL.Query().Get("scope"), r.URL.Query().Get("tenant"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant := s.opts.Tenant
	if len(scopes) == 1 {
		tenant = scopes[0]
	}
	name := fmt.Sprintf("callscreen-%s-%s.csv", k, s.opts.Now().In(s.opts.Location).Format("20060102"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Cache-Control", "no-store")
	extendDeadlines(w, transferTimeout)
	if err := s.opts.Store.ExportFor(r.Context(), k, tenant, w); err != nil {
		// The status is sent; all we can do is log and cut the reply short.
		s.log.Error("admin: export", "list", k, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// zoneName names loc for people: its IANA name, or for the process's
// local zone (which Go calls "Local") its abbreviation and offset.
func zoneName(loc *time.Location, at time.Time) string {
	if name := loc.String(); name != "Local" {
		return name
	}
	abbr, _ := at.In(loc).Zone()
	return abbr + " (UTC" + at.In(loc).Format("-07:00") + ")"
}

// ---- parsing helpers ---------------------------------------------------------------

// normalize turns a typed number into the E.164 form lists hold.
func (s *Server) normalize(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", badf("number: required")
	}
	if s.opts.Normalize != nil && !strings.HasSuffix(raw, "*") {
		n, err := s.opts.Normalize(raw)
		if err != nil {
			return "", badf("number: %v", err)
		}
		raw = n
	}
	if err := screening.ValidateEntryNumber(raw); err != nil {
		return "", badf("number: %v", err)
	}
	return raw, nil
}

// parseTime parses a since or until parameter: RFC 3339, or a date
// (YYYY-MM-DD) in the server's time zone. A date as the end of a period
// (end) means the end of that day.
func (s *Server) parseTime(name, v string, end bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, s.opts.Location); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, badf("%s: %q is neither a date (2026-03-01) nor an RFC 3339 time (2026-03-01T09:00:00+09:00)", name, v)
}

// parseExpiry accepts a duration from now ("90m", "24h", "7d"), a date
// (the entry expires at the end of it) or an RFC 3339 time.
func (s *Server) parseExpiry(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n > 0 && n <= 36500 {
			return now.AddDate(0, 0, n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		t = now.Add(d)
	} else if p, err := time.Parse(time.RFC3339, v); err == nil {
		t = p
	} else if p, err := time.ParseInLocation(time.DateOnly, v, s.opts.Location); err == nil {
		t = p.AddDate(0, 0, 1)
	} else {
		return time.Time{}, badf("expires: %q is not a duration (90m, 24h, 7d), a date (2026-12-31) or an RFC 3339 time", v)
	}
	if !t.After(now) {
		return time.Time{}, badf("expires: %q is not in the future", v)
	}
	return t, nil
}

// intParam parses an integer parameter within [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badf("%s: %q is not a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// boolParam parses a true/false parameter (1, 0, true, false; empty is
// false).
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badf("%s: %q is not true or false", name, v)
	}
	return b, nil
}

// onlyParams refuses parameters the endpoint does not know, so that a
// misspelt filter is an error rather than silently ignored.
func onlyParams(q url.Values, names ...string) error {
	for k := range q {
		known := false
		for _, n := range names {
			if k == n {
				known = true
				break
			}
		}
		if !known {
			return badf("unknown parameter %q (known: %s)", k, strings.Join(names, ", "))
		}
	}
	return nil
}

func isOutcome(s string) bool {
	for _, o := range outcomes {
		if string(o) == s {
			return true
		}
	}
	return false
}

func outcomeNames() string {
	names := make([]string, len(outcomes))
	for i, o := range outcomes {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// isMediaType reports whether the Content-Type header value ct names want.
func isMediaType(ct, want string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.EqualFold(mt, want)
}

// transferTimeout is how long an import upload or an export download may
// take: far longer than the server's timeouts for other requests.
const transferTimeout = 15 * time.Minute

// extendDeadlines gives the request d to be read and its reply d more to
// be written. Servers without deadlines (tests) are left alone.
func extendDeadlines(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	now := time.Now()
	rc.SetReadDeadline(now.Add(d))
	rc.SetWriteDeadline(now.Add(d + time.Minute))
}

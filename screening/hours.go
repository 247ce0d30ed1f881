package screening

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Hours are a profile's opening hours. Outside them a call gets
// ClosedProfile instead (typically: unknown numbers to voicemail). The
// zero value means always open.
//
//	hours:
//	  timezone: Asia/Tokyo
//	  open: ["mon-fri 09:00-18:00", "sat 10:00-13:00"]
//	  closed_on: [jp-holidays, "12-29..01-03"]
//	  closed_profile: after-hours
type Hours struct {
	// Timezone is an IANA zone name ("Asia/Tokyo") the hours are read in.
	Timezone string `mapstructure:"timezone" json:"timezone,omitempty"`
	// Open lists the opening spans: days ("mon", "mon-fri", "sat,sun",
	// "daily") and a time range ("09:00-18:00"; "22:00-06:00" runs past
	// midnight into the next day; "24:00" is the end of a day).
	Open []string `mapstructure:"open" json:"open,omitempty"`
	// ClosedOn lists whole days the business is closed whatever Open
	// says (see closed.go): "jp-holidays" (Japan's public holidays with
	// substitute and in-between holidays), a day of every year "MM-DD" or
	// a range of them "12-29..01-03" (年末年始), a date "2026-08-13" or a
	// range of dates "2026-08-13..2026-08-16".
	ClosedOn []string `mapstructure:"closed_on" json:"closed_on,omitempty"`
	// ClosedProfile is the profile calls get outside the hours.
	ClosedProfile string `mapstructure:"closed_profile" json:"closed_profile,omitempty"`
}

// IsZero reports whether no hours are configured.
func (h Hours) IsZero() bool {
	return h.Timezone == "" && len(h.Open) == 0 && len(h.ClosedOn) == 0 && h.ClosedProfile == ""
}

// schedule is parsed Hours.
type schedule struct {
	loc    *time.Location
	spans  []span
	closed []closedRule
}

// span is one opening span: the days it starts on and its minutes of the
// day. A span with to <= from runs past midnight.
type span struct {
	days     [7]bool // indexed by time.Weekday
	from, to int     // minutes since midnight; to may be 1440
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parse checks h and returns its schedule; key prefixes the keys in
// errors ("profiles.office.hours").
func (h Hours) parse(key string) (*schedule, error) {
	var errs []error
	s := &schedule{}
	switch {
	case h.Timezone == "":
		errs = append(errs, fmt.Errorf("%s.timezone: required when hours are set (an IANA zone such as Asia/Tokyo)", key))
	default:
		loc, err := time.LoadLocation(h.Timezone)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.timezone: %q is not a known time zone (want an IANA name such as Asia/Tokyo)", key, h.Timezone))
		}
		s.loc = loc
	}
	if len(h.Open) == 0 {
		errs = append(errs, fmt.Errorf(`%s.open: at least one span is required, such as "mon-fri 09:00-18:00"`, key))
	}
	for i, o := range h.Open {
		sp, err := parseSpan(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.open[%d]: %q: %w", key, i, o, err))
			continue
		}
		s.spans = append(s.spans, sp)
	}
	for i, c := range h.ClosedOn {
		r, err := parseClosedRule(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.closed_on[%d]: %q: %w", key, i, c, err))
			continue
		}
		s.closed = append(s.closed, r)
	}
	if h.ClosedProfile == "" {
		errs = append(errs, fmt.Errorf("%s.closed_profile: required when hours are set", key))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// parseSpan parses "mon-fri 09:00-18:00".
func parseSpan(s string) (span, error) {
	var sp span
	f := strings.Fields(strings.ToLower(s))
	if len(f) != 2 {
		return sp, errors.New(`want days and a time range, such as "mon-fri 09:00-18:00"`)
	}
	if err := sp.parseDays(f[0]); err != nil {
		return sp, err
	}
	from, to, ok := strings.Cut(f[1], "-")
	if !ok {
		return sp, fmt.Errorf("time range %q: want HH:MM-HH:MM", f[1])
	}
	var err error
	if sp.from, err = parseClock(from, false); err != nil {
		return sp, err
	}
	if sp.to, err = parseClock(to, true); err != nil {
		return sp, err
	}
	if sp.from == sp.to {
		return sp, fmt.Errorf("time range %q is empty", f[1])
	}
	return sp, nil
}

// parseDays parses "mon", "mon-fri", "fri-mon", "sat,sun" or "daily".
func (sp *span) parseDays(s string) error {
	if s == "daily" {
		sp.days = [7]bool{true, true, true, true, true, true, true}
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(item, "-")
		a, ok := dayNames[first]
		if !ok {
			return fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun or daily)", first)
		}
		b := a
		if isRange {
			if b, ok = dayNames[last]; !ok {
				return fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun or daily)", last)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			sp.days[d] = true
			if d == b {
				break
			}
		}
	}
	return nil
}

// parseClock parses "HH:MM" into minutes since midnight; "24:00" only
// when end is set.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || len(hh) != 2 || len(mm) != 2 || err1 != nil || err2 != nil || m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 23:59 (24:00 ends a day)", s)
	}
	return h*60 + m, nil
}

// open reports whether t falls in one of the spans.
func (s *schedule) open(t time.Time) bool {
	t = t.In(s.loc)
	if _, closed := s.closedDay(t); closed {
		return false
	}
	day := t.Weekday()
	min := t.Hour()*60 + t.Minute()
	yesterday := (day + 6) % 7
	for _, sp := range s.spans {
		if sp.from < sp.to {
			if sp.days[day] && min >= sp.from && min < sp.to {
				return true
			}
			continue
		}
		// Past midnight: from the start day's evening into the next morning.
		if (sp.days[day] && min >= sp.from) || (sp.days[yesterday] && min < sp.to) {
			return true
		}
	}
	return false
}

// closedText explains why a call at t is outside the hours of profile.
func (s *schedule) closedText(profile string, t time.Time) string {
	if why, closed := s.closedDay(t.In(s.loc)); closed {
		return fmt.Sprintf("%s is closed on %s (%s)", profile, t.In(s.loc).Format("Mon 2006-01-02"), why)
	}
	return fmt.Sprintf("outside the hours of %s (%s)", profile, t.In(s.loc).Format("Mon 15:04 MST"))
}

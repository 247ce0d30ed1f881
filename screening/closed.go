package screening

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/jp"
)

// closedRule is one entry of Hours.ClosedOn: a calendar of holidays, a
// yearly range of days ("12-29..01-03") or a range of dates.
type closedRule struct {
	text     string
	holidays []*cal.Holiday // a holiday calendar; nil otherwise
	// Yearly ranges compare month*100+day; from > to wraps the year end.
	yearly   bool
	from, to int
	// Dates compare year*10000+month*100+day.
	dates bool
}

// holidayCalendars are the calendars closed_on can name. jp-holidays is
// Japan's national holidays (国民の祝日) as rickar/cal/v2/jp computes them,
// including substitute holidays (振替休日: a holiday on a Sunday moves to
// the next day that is not one) and the holiday between two holidays
// (国民の休日, 2026-09-22).
var holidayCalendars = map[string][]*cal.Holiday{
	"jp-holidays": jp.Holidays,
}

// parseClosedRule parses one closed_on entry.
func parseClosedRule(s string) (closedRule, error) {
	r := closedRule{text: s}
	v := strings.ToLower(strings.TrimSpace(s))
	if h, ok := holidayCalendars[v]; ok {
		r.holidays = h
		return r, nil
	}
	from, to, isRange := strings.Cut(v, "..")
	if !isRange {
		to = from
	}
	a, aYear, errA := parseCalendarDay(from)
	b, bYear, errB := parseCalendarDay(to)
	if err := errors.Join(errA, errB); err != nil {
		return r, err
	}
	switch {
	case aYear != bYear:
		return r, errors.New(`want both ends as MM-DD or both as YYYY-MM-DD`)
	case aYear:
		if a > b {
			return r, errors.New("the range ends before it starts")
		}
		r.dates = true
	default:
		r.yearly = true
	}
	r.from, r.to = a, b
	return r, nil
}

// parseCalendarDay parses "MM-DD" (a day of every year) or "YYYY-MM-DD".
func parseCalendarDay(s string) (key int, withYear bool, err error) {
	bad := fmt.Errorf(`%q: want jp-holidays, MM-DD, YYYY-MM-DD or a range such as "12-29..01-03"`, s)
	switch len(s) {
	case 5:
		t, err := time.Parse("01-02", s)
		if err != nil {
			return 0, false, bad
		}
		return int(t.Month())*100 + t.Day(), false, nil
	case 10:
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return 0, true, bad
		}
		return t.Year()*10000 + int(t.Month())*100 + t.Day(), true, nil
	}
	return 0, false, bad
}

// closedOn says why the local day of t is closed under r.
func (r closedRule) closedOn(t time.Time) (string, bool) {
	y, m, d := t.Date()
	md := int(m)*100 + d
	switch {
	case r.holidays != nil:
		for _, h := range r.holidays {
			actual, observed := h.Calc(y)
			if sameDay(actual, y, m, d) || sameDay(observed, y, m, d) {
				name := h.Name
				if !sameDay(actual, y, m, d) {
					name += ", substitute holiday"
				}
				return name, true
			}
		}
	case r.yearly:
		if (r.from <= r.to && md >= r.from && md <= r.to) || (r.from > r.to && (md >= r.from || md <= r.to)) {
			return "closed_on " + r.text, true
		}
	case r.dates:
		if k := y*10000 + md; k >= r.from && k <= r.to {
			return "closed_on " + r.text, true
		}
	}
	return "", false
}

func sameDay(t time.Time, y int, m time.Month, d int) bool {
	if t.IsZero() {
		return false
	}
	ty, tm, td := t.Date()
	return ty == y && tm == m && td == d
}

// closedDay says why the local day of t (already in the schedule's zone)
// is a closed day, if it is.
func (s *schedule) closedDay(t time.Time) (string, bool) {
	for _, r := range s.closed {
		if why, ok := r.closedOn(t); ok {
			return why, true
		}
	}
	return "", false
}

// maxClosedLookahead bounds the search for the next closed day.
const maxClosedLookahead = 400

// nextClosed returns the first closed day from the local day of now on.
func (s *schedule) nextClosed(now time.Time) (day time.Time, why string, ok bool) {
	if len(s.closed) == 0 {
		return time.Time{}, "", false
	}
	t := now.In(s.loc)
	d := time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, s.loc)
	for i := 0; i < maxClosedLookahead; i++ {
		if why, ok := s.closedDay(d); ok {
			return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, s.loc), why, true
		}
		d = d.AddDate(0, 0, 1)
	}
	return time.Time{}, "", false
}

// ClosedDay is the next day a profile is closed all day (Hours.ClosedOn).
type ClosedDay struct {
	Profile string
	Day     time.Time // midnight, in the profile's time zone
	Why     string
}

// NextClosedDays returns, for each profile with closed_on days, the first
// one from the day of now on, sorted by profile name.
func (e *Engine) NextClosedDays(now time.Time) []ClosedDay {
	var out []ClosedDay
	for name, p := range e.profiles {
		if p.hours == nil {
			continue
		}
		if day, why, ok := p.hours.nextClosed(now); ok {
			out = append(out, ClosedDay{Profile: name, Day: day, Why: why})
		}
	}
	slices.SortFunc(out, func(a, b ClosedDay) int { return strings.Compare(a.Profile, b.Profile) })
	return out
}

package main

import (
	"strconv"
	"strings"
	"time"
)

// parseSpan parses a span of time as flags take it: a Go duration ("90m",
// "24h") or whole days ("7d").
func parseSpan(s string) (time.Duration, bool) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(d); err == nil && days > 0 && strconv.Itoa(days) == d {
			return time.Duration(days) * 24 * time.Hour, true
		}
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// parseDate parses a date ("2026-12-31", local midnight) or an RFC 3339
// time.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

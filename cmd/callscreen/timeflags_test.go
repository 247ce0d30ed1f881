package main

import (
	"testing"
	"time"
)

func TestParseExpiryAndSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.Local)
	tests := []struct {
		in            string
		expiry, since time.Time
		expiryErr     bool
		sinceErr      bool
	}{
		{in: "90m", expiry: now.Add(90 * time.Minute), since: now.Add(-90 * time.Minute)},
		{in: "7d", expiry: now.Add(7 * 24 * time.Hour), since: now.Add(-7 * 24 * time.Hour)},
		{in: "2026-12-31", expiry: time.Date(2026, 12, 31, 0, 0, 0, 0, time.Local), since: time.Date(2026, 12, 31, 0, 0, 0, 0, time.Local)},
		{in: "2026-11-01", expiryErr: true, since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local)},
		{in: "-5m", expiryErr: true, sinceErr: true},
		{in: "07d", expiryErr: true, sinceErr: true},
		{in: "soon", expiryErr: true, sinceErr: true},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		if (err != nil) != tt.expiryErr || (err == nil && !got.Equal(tt.expiry)) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.expiry, tt.expiryErr)
		}
		got, err = parseSince(tt.in, now)
		if (err != nil) != tt.sinceErr || (err == nil && !got.Equal(tt.since)) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.since, tt.sinceErr)
		}
	}
}

package screening

import (
	"fmt"
	"sync"
	"testing"
)

func TestClassify(t *testing.T) {
	n := NewNumbering(1000)
	tests := []struct {
		raw, country string
		want         Number
	}{
		// Tokyo landline in every form a trunk sends it.
		{"0312345678", "JP", Number{E164: "+81312345678", Region: "JP", CountryCode: 81, National: "312345678", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"03-1234-5678", "JP", Number{E164: "+81312345678", Region: "JP", CountryCode: 81, National: "312345678", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"+81312345678", "JP", Number{E164: "+81312345678", Region: "JP", CountryCode: 81, National: "312345678", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"01081312345678", "JP", Number{E164: "+81312345678", Region: "JP", CountryCode: 81, National: "312345678", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"81312345678", "JP", Number{E164: "+81312345678", Region: "JP", CountryCode: 81, National: "312345678", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"０３１２３４５６７８", "JP", Number{E164: "+81312345678", Region: "JP", CountryCode: 81, National: "312345678", Type: TypeFixedLine, Valid: true, Possible: true}},
		// Japanese mobile, IP phone, the 060 override, toll-free, navi dial, premium.
		{"09012345678", "JP", Number{E164: "+819012345678", Region: "JP", CountryCode: 81, National: "9012345678", Type: TypeMobile, Valid: true, Possible: true}},
		{"05012345678", "JP", Number{E164: "+815012345678", Region: "JP", CountryCode: 81, National: "5012345678", Type: TypeVoIP, Valid: true, Possible: true}},
		{"06012345678", "JP", Number{E164: "+816012345678", Region: "JP", CountryCode: 81, National: "6012345678", Type: TypeMobile, Valid: true, Possible: true}},
		{"+816012345678", "JP", Number{E164: "+816012345678", Region: "JP", CountryCode: 81, National: "6012345678", Type: TypeMobile, Valid: true, Possible: true}},
		{"0120123456", "JP", Number{E164: "+81120123456", Region: "JP", CountryCode: 81, National: "120123456", Type: TypeTollFree, Valid: true, Possible: true}},
		{"0570123456", "JP", Number{E164: "+81570123456", Region: "JP", CountryCode: 81, National: "570123456", Type: TypeUAN, Valid: true, Possible: true}},
		{"0990123456", "JP", Number{E164: "+81990123456", Region: "JP", CountryCode: 81, National: "990123456", Type: TypePremiumRate, Valid: true, Possible: true}},
		// 060 with ten digits is the older personal-number range, which the
		// metadata knows; the override does not touch it.
		{"0601234567", "JP", Number{E164: "+81601234567", Region: "JP", CountryCode: 81, National: "601234567", Type: TypePersonal, Valid: true, Possible: true}},
		// Foreign numbers on a Japanese trunk.
		{"+18775550100", "JP", Number{E164: "+18775550100", Region: "US", CountryCode: 1, National: "8775550100", Type: TypeTollFree, Valid: true, Possible: true}},
		{"18775550100", "JP", Number{E164: "+18775550100", Region: "US", CountryCode: 1, National: "8775550100", Type: TypeTollFree, Valid: true, Possible: true}},
		{"00442071234567", "JP", Number{E164: "+442071234567", Region: "GB", CountryCode: 44, National: "2071234567", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"+8613812345678", "JP", Number{E164: "+8613812345678", Region: "CN", CountryCode: 86, National: "13812345678", Type: TypeMobile, Valid: true, Possible: true}},
		// The trunk's plan decides: a US national toll-free number on a US trunk.
		{"8005550199", "US", Number{E164: "+18005550199", Region: "US", CountryCode: 1, National: "8005550199", Type: TypeTollFree, Valid: true, Possible: true}},
		{"011442071234567", "US", Number{E164: "+442071234567", Region: "GB", CountryCode: 44, National: "2071234567", Type: TypeFixedLine, Valid: true, Possible: true}},
		{"+12025550123", "jp", Number{E164: "+12025550123", Region: "US", CountryCode: 1, National: "2025550123", Type: TypeFixedMobile, Valid: true, Possible: true}},
		// Short numbers: service codes are valid, extension-like ones are Short.
		{"110", "JP", Number{Region: "JP", CountryCode: 81, National: "110", Type: TypeShort, Valid: true, Possible: true}},
		{"100", "JP", Number{Region: "JP", CountryCode: 81, National: "100", Type: TypeShort, Possible: true, Short: true}},
		{"1000", "JP", Number{Region: "JP", CountryCode: 81, National: "1000", Type: TypeShort, Short: true}},
		{"911", "US", Number{Region: "US", CountryCode: 1, National: "911", Type: TypeShort, Valid: true, Possible: true}},
		// Invalid and impossible.
		{"0312", "JP", Number{Region: "JP", CountryCode: 81, National: "0312", Type: TypeShort, Short: true}},
		{"03123456789", "JP", Number{E164: "+813123456789", Region: "JP", CountryCode: 81, National: "3123456789", Type: TypeUnknown, Possible: true}},
		{"0312345", "JP", Number{E164: "+810312345", Region: "JP", CountryCode: 81, National: "0312345", Type: TypeUnknown}},
		{"+1202555012", "JP", Number{E164: "+1202555012", Region: "US", CountryCode: 1, National: "202555012", Type: TypeUnknown}},
		{"+999123456", "JP", Number{Type: TypeUnknown}},
		// Not numbers.
		{"anonymous", "JP", Number{Type: TypeUnknown}},
		{"info@outlook.com", "JP", Number{Type: TypeUnknown}},
		{"*31#0312345678", "JP", Number{Type: TypeUnknown}},
		{"03+1234", "JP", Number{Type: TypeUnknown}},
		{"", "JP", Number{Type: TypeUnknown}},
		{"1", "JP", Number{Type: TypeUnknown}},
		{"123456789012345678901", "JP", Number{Type: TypeUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.country+"/"+tt.raw, func(t *testing.T) {
			tt.want.Raw = tt.raw
			for range 2 { // computed, then cached
				if got := n.Classify(tt.raw, tt.country); got != tt.want {
					t.Errorf("Classify(%q, %q)\n got %+v\nwant %+v", tt.raw, tt.country, got, tt.want)
				}
			}
		})
	}
}

func TestClassifyWithoutCache(t *testing.T) {
	n := NewNumbering(0)
	got := n.Classify("0312345678", "JP")
	if got.E164 != "+81312345678" || !got.Valid {
		t.Errorf("Classify without cache = %+v", got)
	}
}

// TestClassifyCacheBounded checks that the cache never grows past its
// size and keeps answering correctly under concurrent use.
func TestClassifyCacheBounded(t *testing.T) {
	const size = 128
	n := NewNumbering(size)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				raw := fmt.Sprintf("0312%06d", g*1000+i)
				if got := n.Classify(raw, "JP"); got.E164 != "+81"+raw[1:] {
					t.Errorf("Classify(%q) = %+v", raw, got)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for i := range n.shards {
		total += len(n.shards[i].m)
	}
	if max := len(n.shards) * n.perShard; total > max || max > size+len(n.shards) {
		t.Errorf("cache holds %d entries, bound %d for size %d", total, max, size)
	}
}

func TestClassifyDoesNotRetainHeader(t *testing.T) {
	n := NewNumbering(10)
	header := "0312345678" + string(make([]byte, 4096))
	got := n.Classify(header[:10], "JP")
	for k := range n.shards[0].m {
		if len(k.raw) != 10 {
			t.Fatalf("cached key %q", k.raw)
		}
	}
	if got.Raw != "0312345678" {
		t.Errorf("Raw = %q", got.Raw)
	}
}

func TestWarmUnknownRegion(t *testing.T) {
	n := NewNumbering(10)
	n.Warm("JP", "us", "XX", "")
	if got := n.Classify("+81312345678", "XX"); !got.Valid {
		t.Errorf("international number on an unknown region's trunk: %+v", got)
	}
}

// BenchmarkClassify compares distinct numbers (each a cache miss) with a
// repeated one (a hit).
func BenchmarkClassify(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		n := NewNumbering(0)
		n.Warm("JP")
		raws := make([]string, 4096)
		for i := range raws {
			raws[i] = fmt.Sprintf("03%08d", 12340000+i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			n.Classify(raws[i%len(raws)], "JP")
		}
	})
	b.Run("cached", func(b *testing.B) {
		n := NewNumbering(10000)
		n.Warm("JP")
		n.Classify("0312345678", "JP")
		b.ReportAllocs()
		for b.Loop() {
			n.Classify("0312345678", "JP")
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		n := NewNumbering(10000)
		raws := make([]string, 1024)
		for i := range raws {
			raws[i] = fmt.Sprintf("03%08d", 12340000+i)
			n.Classify(raws[i], "JP")
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				n.Classify(raws[i%len(raws)], "JP")
				i++
			}
		})
	})
}

func TestNationalFormat(t *testing.T) {
	tests := []struct{ in, country, want string }{
		{"+81355550000", "JP", "03-5555-0000"},
		{"+819012345678", "JP", "090-1234-5678"},
		{"+81120444444", "JP", "0120-444-444"},
		{"+81570001234", "JP", "0570-001-234"},
		{"+81612345678", "JP", "06-1234-5678"},
		{"+12025550123", "JP", "+12025550123"},
		{"+12025550123", "US", "(202) 555-0123"},
		{"+81355550000", "US", "+81355550000"},
		{"+8190*", "JP", "+8190*"},
		{"anonymous", "JP", "anonymous"},
		{"+81355550000", "", "+81355550000"},
	}
	for _, tt := range tests {
		if got := NationalFormat(tt.in, tt.country); got != tt.want {
			t.Errorf("NationalFormat(%q, %q) = %q, want %q", tt.in, tt.country, got, tt.want)
		}
	}
}

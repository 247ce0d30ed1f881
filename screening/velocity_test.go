package screening

import (
	"fmt"
	"testing"
	"time"
)

func TestVelocity(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	type step struct {
		at             time.Duration
		number         string
		wantN, wantPre int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"same number counts up", []step{
			{0, "+81312345678", 1, 1},
			{time.Second, "+81312345678", 2, 2},
			{2 * time.Second, "+81312345678", 3, 3},
		}},
		{"prefix counts a campaign of distinct numbers", []step{
			{0, "+442071230001", 1, 1},
			{time.Second, "+442071230002", 1, 2},
			{2 * time.Second, "+442071230003", 1, 3},
			{3 * time.Second, "+442071239999", 1, 4},
			{4 * time.Second, "+442079990000", 1, 1},
		}},
		{"window slides", []step{
			{0, "+81312345678", 1, 1},
			{30 * time.Second, "+81312345678", 2, 2},
			{65 * time.Second, "+81312345678", 2, 2},  // the first call fell out
			{200 * time.Second, "+81312345678", 1, 1}, // all fell out
		}},
		{"clock stepping back counts in the newest bucket", []step{
			{time.Minute, "+81312345678", 1, 1},
			{0, "+81312345678", 2, 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVelocity(DefaultVelocityConfig())
			for i, s := range tt.steps {
				got := v.Observe(t0.Add(s.at), s.number)
				if got.Number != s.wantN || got.Prefix != s.wantPre {
					t.Errorf("step %d (%s at %v): number %d prefix %d, want %d %d", i, s.number, s.at, got.Number, got.Prefix, s.wantN, s.wantPre)
				}
			}
		})
	}
}

func TestVelocityMemoryIsBounded(t *testing.T) {
	cfg := DefaultVelocityConfig()
	v := NewVelocity(cfg)
	before := v.Bytes()
	now := time.Now()
	for i := 0; i < 200_000; i++ {
		v.Observe(now, fmt.Sprintf("+8190%08d", i))
	}
	if v.Bytes() != before || before != cfg.Buckets*cfg.Depth*cfg.Width*2 {
		t.Errorf("memory %d -> %d bytes, want a constant %d", before, v.Bytes(), cfg.Buckets*cfg.Depth*cfg.Width*2)
	}
	// 200k distinct numbers in a 2^16-wide sketch: a fresh number's count
	// may be over-estimated, never under-estimated.
	if got := v.Observe(now, "+819999999999"); got.Number < 1 {
		t.Errorf("fresh number counted %d, want >= 1", got.Number)
	}
}

func TestVelocityConfigValidate(t *testing.T) {
	good := DefaultVelocityConfig()
	bad := []func(*VelocityConfig){
		func(c *VelocityConfig) { c.Window = 0 },
		func(c *VelocityConfig) { c.Buckets = 0 },
		func(c *VelocityConfig) { c.Width = 1000 },
		func(c *VelocityConfig) { c.Depth = 9 },
		func(c *VelocityConfig) { c.PrefixCut = 0 },
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for i, mutate := range bad {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: %+v validated", i, c)
		}
	}
}

// BenchmarkVelocityBusy observes calls from 100k distinct numbers cycling
// through the window.
func BenchmarkVelocityBusy(b *testing.B) {
	v := NewVelocity(DefaultVelocityConfig())
	numbers := make([]string, 100_000)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+8190%08d", i*37)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.Observe(now.Add(time.Duration(i)*time.Millisecond), numbers[i%len(numbers)])
	}
	b.ReportMetric(float64(v.Bytes()), "bytes-total")
}

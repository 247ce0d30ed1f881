package screening

import (
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// VelocityCounts are the calls seen in the sliding window, this one
// included.
type VelocityCounts struct {
	// Window is the length of the sliding window.
	Window time.Duration `json:"window"`
	// Number counts calls from the caller's number, Prefix from its
	// prefix (the number less its last PrefixCut digits), both across all
	// of the PBX's DIDs.
	Number int `json:"number"`
	Prefix int `json:"prefix"`
}

// VelocityConfig sizes the velocity tracker. Its memory is
// Buckets x Depth x Width x 2 bytes whatever the traffic.
type VelocityConfig struct {
	// Window is the sliding window calls are counted in.
	Window time.Duration `mapstructure:"window" json:"window"`
	// Buckets divides the window; the window slides one bucket at a time.
	Buckets int `mapstructure:"buckets" json:"buckets"`
	// Width and Depth size the count-min sketch: more width, fewer
	// collisions between numbers; counts are never under-estimated.
	Width int `mapstructure:"width" json:"width"`
	Depth int `mapstructure:"depth" json:"depth"`
	// PrefixCut is how many trailing digits are dropped to form a prefix.
	PrefixCut int `mapstructure:"prefix_cut" json:"prefix_cut"`
}

// DefaultVelocityConfig is a one-minute window in six buckets, about 3 MiB.
func DefaultVelocityConfig() VelocityConfig {
	return VelocityConfig{Window: time.Minute, Buckets: 6, Width: 1 << 16, Depth: 4, PrefixCut: 4}
}

// Validate checks the configuration.
func (c VelocityConfig) Validate() error {
	switch {
	case c.Window < time.Second:
		return fmt.Errorf("velocity.window: %v is shorter than one second", c.Window)
	case c.Buckets < 1 || c.Buckets > 600:
		return fmt.Errorf("velocity.buckets: %d is outside 1..600", c.Buckets)
	case c.Width < 64 || c.Width > 1<<24 || c.Width&(c.Width-1) != 0:
		return fmt.Errorf("velocity.width: %d must be a power of two between 64 and 16777216", c.Width)
	case c.Depth < 1 || c.Depth > 8:
		return fmt.Errorf("velocity.depth: %d is outside 1..8", c.Depth)
	case c.PrefixCut < 1 || c.PrefixCut > 8:
		return fmt.Errorf("velocity.prefix_cut: %d is outside 1..8", c.PrefixCut)
	}
	return nil
}

// Velocity counts calls per number and per prefix in a sliding window,
// in memory bounded by its configuration rather than by traffic: a
// count-min sketch per time bucket.
type Velocity struct {
	cfg    VelocityConfig
	bucket time.Duration
	seed   maphash.Seed

	mu      sync.Mutex
	current int64 // index of the newest bucket (unix time / bucket)
	// counts[b][d*width+i] counts bucket b, row d, column i.
	counts [][]uint16
}

// NewVelocity returns a tracker sized by cfg, which must be valid.
func NewVelocity(cfg VelocityConfig) *Velocity {
	v := &Velocity{
		cfg:    cfg,
		bucket: cfg.Window / time.Duration(cfg.Buckets),
		seed:   maphash.MakeSeed(),
		counts: make([][]uint16, cfg.Buckets),
	}
	for i := range v.counts {
		v.counts[i] = make([]uint16, cfg.Depth*cfg.Width)
	}
	return v
}

// Observe counts one call from the E.164 number at now and returns the
// counts in the window, this call included.
func (v *Velocity) Observe(now time.Time, e164 string) VelocityCounts {
	prefix := e164
	if len(prefix) > v.cfg.PrefixCut+3 {
		prefix = prefix[:len(prefix)-v.cfg.PrefixCut]
	}
	hn := maphash.String(v.seed, e164)
	hp := maphash.String(v.seed, prefix) ^ 0x9e3779b97f4a7c15

	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.advance(now)
	return VelocityCounts{
		Window: v.cfg.Window,
		Number: v.add(b, hn),
		Prefix: v.add(b, hp),
	}
}

// advance moves the window to now, clearing buckets that fell out of it,
// and returns the index of the current bucket.
func (v *Velocity) advance(now time.Time) int {
	idx := now.UnixNano() / int64(v.bucket)
	if idx > v.current {
		steps := idx - v.current
		if steps > int64(len(v.counts)) {
			steps = int64(len(v.counts))
		}
		for s := int64(1); s <= steps; s++ {
			clear(v.counts[(v.current+s)%int64(len(v.counts))])
		}
		v.current = idx
	}
	// A clock that steps back counts into the newest bucket.
	return int(v.current % int64(len(v.counts)))
}

// add increments the key's counters in bucket b and returns its estimate
// over the whole window: the minimum over rows of the sum over buckets.
func (v *Velocity) add(b int, h uint64) int {
	w := v.cfg.Width
	h1, h2 := h, (h>>33)|1
	est := int(^uint(0) >> 1)
	for d := 0; d < v.cfg.Depth; d++ {
		col := d*w + int((h1+uint64(d)*h2)&uint64(w-1))
		if c := v.counts[b][col]; c < ^uint16(0) {
			v.counts[b][col] = c + 1
		}
		sum := 0
		for i := range v.counts {
			sum += int(v.counts[i][col])
		}
		est = min(est, sum)
	}
	return est
}

// Bytes returns the tracker's counter memory.
func (v *Velocity) Bytes() int { return len(v.counts) * v.cfg.Depth * v.cfg.Width * 2 }

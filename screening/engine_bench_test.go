package screening

import (
	"fmt"
	"runtime"
	"testing"
)

// benchmarkEvaluate measures a full evaluation with n block-list entries
// and a realistic mix of callers: repeat callers (classification cached)
// and numbers never seen before.
func benchmarkEvaluate(b *testing.B, n int, distinct bool) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	snap := buildSnapshot(b, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	eng, err := NewEngine(testPolicy(), NewLists(snap), NewNumbering(100_000), NewVelocity(DefaultVelocityConfig()))
	if err != nil {
		b.Fatal(err)
	}
	callers := make([]*Facts, 4096)
	for i := range callers {
		switch i % 4 {
		case 0:
			callers[i] = provider(fmt.Sprintf("03%08d", i))
		case 1:
			callers[i] = provider(fmt.Sprintf("090%08d", i*7))
		case 2:
			callers[i] = provider(fmt.Sprintf("+1202555%04d", i))
		default:
			f := provider(fmt.Sprintf("+4420712%05d", i))
			f.Name = "Amazon"
			callers[i] = f
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := callers[i%len(callers)]
		if distinct {
			g := *f
			g.Number = fmt.Sprintf("090%08d", i%100_000_000)
			f = &g
		}
		eng.Evaluate(f, "")
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "list-bytes/entry")
}

func BenchmarkEvaluate1M(b *testing.B)          { benchmarkEvaluate(b, 1_000_000, false) }
func BenchmarkEvaluate10M(b *testing.B)         { benchmarkEvaluate(b, 10_000_000, false) }
func BenchmarkEvaluate10MDistinct(b *testing.B) { benchmarkEvaluate(b, 10_000_000, true) }

package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// benchList returns n distinct E.164 numbers as an import file, in
// scattered order (i*7919 mod 10^8 is a permutation), with a reason on
// every tenth line.
func benchList(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 18)
	for i := range n {
		fmt.Fprintf(&b, "+8190%08d", (i*7919)%100_000_000)
		if i%10 == 0 {
			b.WriteString(",reported by a customer")
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// peakRSS returns the process's peak resident set size in MiB, and resets
// the peak where the kernel allows it (Linux: /proc/self/clear_refs).
func peakRSS(reset bool) float64 {
	defer func() {
		if reset {
			os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		}
	}()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

func BenchmarkImport1M(b *testing.B) {
	const n = 1_000_000
	data := benchList(n)
	b.SetBytes(int64(len(data)))
	dir := b.TempDir()
	runtime.GC()
	peakRSS(true)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		st, err := Open(b.Context(), filepath.Join(dir, fmt.Sprintf("import%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := st.Import(b.Context(), screening.Block, bytes.NewReader(data), ImportOptions{})
		b.StopTimer()
		if err != nil || rep.Added != n {
			b.Fatalf("import: added %d, %v", rep.Added, err)
		}
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
	b.ReportMetric(peakRSS(false), "peak-RSS-MiB")
}

func BenchmarkSnapshot1M(b *testing.B) { benchSnapshot(b, 1_000_000) }

// BenchmarkSnapshot10M needs CALLSCREEN_BENCH_10M=1: its set-up imports
// ten million rows.
func BenchmarkSnapshot10M(b *testing.B) {
	if os.Getenv("CALLSCREEN_BENCH_10M") == "" {
		b.Skip("set CALLSCREEN_BENCH_10M=1 to run")
	}
	benchSnapshot(b, 10_000_000)
}

func benchSnapshot(b *testing.B, n int) {
	ctx := b.Context()
	st, err := Open(ctx, filepath.Join(b.TempDir(), "snap.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Import(ctx, screening.Block, bytes.NewReader(benchList(n)), ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	// A few entries of the other shapes.
	now := time.Now()
	for i := range 1000 {
		e := screening.Entry{Kind: screening.Allow, Number: fmt.Sprintf("+8180%08d", i), Expires: now.Add(time.Hour), Source: screening.SourceChallenge}
		if i%2 == 0 {
			e = screening.Entry{Kind: screening.Block, Number: fmt.Sprintf("+44%d*", 7000+i)}
		}
		if err := st.Put(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	base := liveHeap()
	peakRSS(true)
	var snap *screening.ListSnapshot
	for b.Loop() {
		snap, err = st.Snapshot(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
	}
	if got := snap.Len(screening.Block); got != n+500 {
		b.Fatalf("snapshot holds %d block entries, want %d", got, n+500)
	}
	if _, ok := snap.Lookup(screening.Block, "+819000007919", now); !ok {
		b.Fatal("lookup failed")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
	b.ReportMetric(peakRSS(false), "peak-RSS-MiB")
	// What serve holds for the lists: the live heap of the snapshot, per
	// entry, after a collection (runtime.MemStats).
	b.ReportMetric(float64(int64(liveHeap())-int64(base))/float64(n+1000), "live-bytes/entry")
	runtime.KeepAlive(snap)
}

// BenchmarkLogWriter measures the per-call cost of Write and the sustained
// rate of the background writer.
func BenchmarkLogWriter(b *testing.B) {
	st, err := Open(b.Context(), filepath.Join(b.TempDir(), "log.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	base := liveHeap()
	w := newLogWriter(b, st, LogOptions{Buffer: 1 << 16})
	// What the writer holds while nothing waits: the garbage collector
	// scans it on every cycle.
	idle := float64(int64(liveHeap())-int64(base)) / 1024
	recs := make([]screening.Record, 1024)
	for i := range recs {
		recs[i] = rec("", i, "+81312345678", screening.Reject, screening.OutcomeAnnounced, false, "international")
	}
	i := 0
	for b.Loop() {
		r := recs[i%len(recs)]
		r.ID = strconv.Itoa(i)
		w.Write(r)
		i++
		if i%8192 == 0 { // keep up: measure throughput, not drops
			w.Flush(b.Context())
		}
	}
	if err := w.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
	if w.Dropped() != 0 || w.Failed() != 0 {
		b.Fatalf("dropped %d, failed %d", w.Dropped(), w.Failed())
	}
	b.ReportMetric(idle, "idle-KiB")
}

// BenchmarkLogWriterOneByOne measures a record written in a batch of its
// own, as happens whenever calls arrive further apart than the linger: the
// whole cost of one database write per call.
func BenchmarkLogWriterOneByOne(b *testing.B) {
	st, err := Open(b.Context(), filepath.Join(b.TempDir(), "log.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	w := newLogWriter(b, st, LogOptions{})
	r := rec("", 0, "+81312345678", screening.Ring, screening.OutcomeRang, false, "")
	i := 0
	for b.Loop() {
		r.ID = strconv.Itoa(i)
		i++
		w.Write(r)
		if err := w.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
	if w.Written() != uint64(i) {
		b.Fatalf("written %d of %d", w.Written(), i)
	}
}

// BenchmarkPublishSightings measures what serve's sweep exchange costs per
// publish of one number new to the window (internal/fleet publishes those
// within its linger, so at low call rates each call is one): the wall time
// of the round trip, and this process's CPU (cpu-µs/op, user and system,
// the database's own not counted). With CALLSCREEN_STORE_BACKEND=postgres
// it runs against a throwaway PostgreSQL cluster.
func BenchmarkPublishSightings(b *testing.B) {
	st, err := Open(b.Context(), testDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Minute)
	i := 0
	cpu0 := processCPU(b)
	for b.Loop() {
		s := []screening.Sighting{{Number: fmt.Sprintf("+8190%08d", (i*7919)%100_000_000), Tenant: "shop", Server: "pbx1", Minute: now, Calls: 1}}
		if _, err := st.PublishSightings(b.Context(), s, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(i), "cpu-µs/op")
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

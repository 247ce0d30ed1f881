package store

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// journalChildEnv makes the test binary act as a server that is killed
// with records waiting for their batch (see TestLogWriterJournalCrash).
const journalChildEnv = "CALLSCREEN_TEST_JOURNAL_CHILD"

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestLogWriterJournalCrash writes records in a child process whose batch
// lingers for an hour, kills the child, and checks that the next writer on
// the same database writes every one of them, once.
func TestLogWriterJournalCrash(t *testing.T) {
	if db := os.Getenv(journalChildEnv); db != "" {
		st, err := Open(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		w := newLogWriter(t, st, LogOptions{Linger: time.Hour, Journal: os.Getenv(journalChildEnv + "_JOURNAL")})
		n, _ := strconv.Atoi(os.Getenv(journalChildEnv + "_N"))
		for i := range n {
			w.Write(logRec(i))
		}
		os.Stdout.WriteString("written\n")
		select {} // killed here, the batch still in memory
	}

	tests := []struct {
		name string
		n    int
	}{
		{"one record", 1},
		{"a batch", 50},
		{"more than the batch size", 700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := testDatabase(t)
			journal := testJournal(t, db)
			cmd := exec.Command(os.Args[0], "-test.run=^TestLogWriterJournalCrash$")
			cmd.Env = append(os.Environ(), journalChildEnv+"="+db, journalChildEnv+"_N="+strconv.Itoa(tt.n), journalChildEnv+"_JOURNAL="+journal)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			k, _ := out.Read(buf)
			if !strings.Contains(string(buf[:k]), "written") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %q", buf[:k])
			}
			cmd.Process.Kill()
			cmd.Wait()

			st, err := Open(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// Full batches of 256 may have been written; the rest waited
			// in memory when the child was killed.
			if before := count(t, st); before > tt.n/256*256 {
				t.Fatalf("before replay the database has %d of %d records: none waited (the test would prove nothing)", before, tt.n)
			}
			log, buf2 := testLogger()
			w := newLogWriter(t, st, LogOptions{Journal: journal, Logger: log})
			defer w.Close(t.Context())
			if got := count(t, st); got != tt.n {
				t.Errorf("after replay: %d records, want %d", got, tt.n)
			}
			if got := fileSize(t, journal); got != 0 {
				t.Errorf("journal holds %d bytes after replay, want 0", got)
			}
			if !strings.Contains(buf2.String(), "call log journal replayed") {
				t.Errorf("replay not logged:\n%s", buf2.String())
			}
		})
	}
}

// TestLogWriterJournal checks what the journal holds as records come and
// go, and how a second writer and torn lines are handled.
func TestLogWriterJournal(t *testing.T) {
	good := func(i int) string {
		js, err := json.Marshal(logRec(i))
		if err != nil {
			t.Fatal(err)
		}
		return string(js) + "\n"
	}
	tests := []struct {
		name      string
		left      string // what a previous writer left in the journal
		want      int    // records after replay
		skipped   bool   // a warning about unreadable lines
		wantError string // NewLogWriter fails
	}{
		{name: "empty", left: "", want: 0},
		{name: "two records", left: good(1) + good(2), want: 2},
		{name: "the same record twice", left: good(1) + good(1), want: 1},
		{name: "a torn line between two records", left: good(1) + good(2)[:40] + "\n" + good(3), want: 2, skipped: true},
		{name: "a torn last line", left: good(1) + good(2)[:40], want: 1, skipped: true},
		{name: "a record without an ID", left: good(1) + `{"id":""}` + "\n", want: 1, skipped: true},
		{name: "binary garbage", left: "\x00\xff\xfe\n" + good(4), want: 1, skipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			path := testJournal(t, st.Path())
			if err := os.WriteFile(path, []byte(tt.left), 0o600); err != nil {
				t.Fatal(err)
			}
			log, buf := testLogger()
			w := newLogWriter(t, st, LogOptions{Linger: time.Hour, Journal: path, Logger: log})
			defer w.Close(t.Context())
			if got := count(t, st); got != tt.want {
				t.Errorf("after replay: %d records, want %d", got, tt.want)
			}
			if got := strings.Contains(buf.String(), "skipped unreadable lines"); got != tt.skipped {
				t.Errorf("warning about unreadable lines: %v, want %v\n%s", got, tt.skipped, buf.String())
			}
			if got := fileSize(t, path); got != 0 {
				t.Errorf("journal holds %d bytes after replay", got)
			}

			// A second server on the same database is refused.
			if _, err := NewLogWriter(t.Context(), st, LogOptions{Journal: path}); err == nil || !strings.Contains(err.Error(), "in use by another callscreen serve") {
				t.Errorf("second writer on the journal: %v", err)
			}

			// Waiting records are in the journal; once written, it is empty.
			w.Write(logRec(100))
			w.Write(logRec(101))
			if got := fileSize(t, path); got == 0 {
				t.Error("journal empty while two records wait for their batch")
			}
			if err := w.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := fileSize(t, path); got != 0 {
				t.Errorf("journal holds %d bytes after Flush", got)
			}
			w.Write(logRec(102))
			if err := w.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := fileSize(t, path); got != 0 {
				t.Errorf("journal holds %d bytes after Close", got)
			}
			if got := count(t, st); got != tt.want+3 {
				t.Errorf("%d records, want %d", got, tt.want+3)
			}
		})
	}
}

// TestLogWriterJournalUnwritable replays into a database that refuses
// writes: the writer still starts, and the records are kept aside.
func TestLogWriterJournalUnwritable(t *testing.T) {
	sqliteOnly(t) // PostgreSQL outages: TestPostgresOutage
	st := newStore(t)
	path := testJournal(t, st.Path())
	var left strings.Builder
	for i := range 3 {
		js, _ := json.Marshal(logRec(i))
		left.Write(js)
		left.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(left.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.w.ExecContext(t.Context(), "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	log, buf := testLogger()
	w := newLogWriter(t, st, LogOptions{Journal: path, Logger: log})
	defer w.Close(t.Context())
	aside, _ := filepath.Glob(path + ".*.unwritten")
	if len(aside) != 1 {
		t.Fatalf("kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != left.String() {
		t.Errorf("kept aside %q, want the journal as it was", b)
	}
	if w.Failed() != 3 || !strings.Contains(buf.String(), "could not be replayed") {
		t.Errorf("failed %d, log:\n%s", w.Failed(), buf.String())
	}
	if got := fileSize(t, path); got != 0 {
		t.Errorf("new journal holds %d bytes", got)
	}
	// The writer goes on journaling, and keeps the record it cannot write
	// in the journal when it is closed.
	w.Write(logRec(10))
	if got := fileSize(t, path); got == 0 {
		t.Error("journal empty after a write")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil {
		t.Error("Close wrote to a read-only database")
	}
	<-w.done

	// Once the database takes writes again, the next start writes what
	// was kept aside and removes it.
	if _, err := st.w.ExecContext(t.Context(), "PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	log2, buf2 := testLogger()
	w2 := newLogWriter(t, st, LogOptions{Journal: path, Logger: log2})
	defer w2.Close(t.Context())
	if left, _ := filepath.Glob(path + ".*.unwritten"); len(left) != 0 {
		t.Errorf("still kept aside after a writable start: %v", left)
	}
	if got := count(t, st); got != 4 {
		t.Errorf("%d records after the writable start, want the 3 kept aside and the 1 journaled", got)
	}
	if !strings.Contains(buf2.String(), "kept aside earlier: records written") {
		t.Errorf("not logged:\n%s", buf2.String())
	}
}

package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/callscreen/callscreen/screening"
)

// A journal is an append-only file holding the call log records a
// LogWriter has accepted but not yet committed to the database, one JSON
// record per line. Appending costs one write(2), so a LogWriter can batch
// its database writes for a second and still lose nothing when the process
// is killed: the next LogWriter on the same journal replays what it finds.
// Like SQLite's WAL with synchronous=NORMAL, the journal is not fsynced: it
// survives the process, not the machine.
type journal struct {
	path string
	f    *os.File
	// torn is set when an append failed, possibly half-way through a line:
	// the next append starts on a new line so it is not glued to the torn
	// one.
	torn bool
	buf  []byte
}

// openJournal opens (creating) the journal at path and takes an exclusive
// lock on it, so two servers never share one.
func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("call log journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("call log journal %s is in use by another callscreen serve on the same database", path)
		}
		return nil, fmt.Errorf("call log journal %s: lock: %w", path, err)
	}
	return &journal{path: path, f: f}, nil
}

// append writes the record whose JSON is js as one line.
func (j *journal) append(js []byte) error {
	j.buf = j.buf[:0]
	if j.torn {
		j.buf = append(j.buf, '\n')
	}
	j.buf = append(j.buf, js...)
	j.buf = append(j.buf, '\n')
	if _, err := j.f.Write(j.buf); err != nil {
		j.torn = true
		return fmt.Errorf("call log journal %s: %w", j.path, err)
	}
	j.torn = false
	return nil
}

// reset empties the journal once everything in it is in the database.
func (j *journal) reset() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("call log journal %s: truncate: %w", j.path, err)
	}
	j.torn = false
	return nil
}

// read returns the records in the journal and how many lines could not be
// read as one (a torn line, or a record without an ID).
func (j *journal) read() (recs []screening.Record, bad int, err error) {
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("call log journal %s: %w", j.path, err)
	}
	r := bufio.NewReader(j.f)
	for {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var rec screening.Record
			if json.Unmarshal(line, &rec) != nil || rec.ID == "" {
				bad++
			} else {
				recs = append(recs, rec)
			}
		}
		if err == io.EOF {
			return recs, bad, nil
		}
		if err != nil {
			return recs, bad, fmt.Errorf("call log journal %s: %w", j.path, err)
		}
	}
}

// readJournalFile reads the records of a journal file that no writer
// holds (one kept aside).
func readJournalFile(path string) ([]screening.Record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("call log journal: %w", err)
	}
	defer f.Close()
	return (&journal{path: path, f: f}).read()
}

func (j *journal) close() error {
	return j.f.Close() // releases the lock
}

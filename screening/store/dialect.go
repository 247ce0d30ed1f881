package store

import (
	"database/sql"
	"strconv"
	"strings"
)

// A dialect is what differs between the two databases the store runs on.
// The queries are written once, for SQLite, with ? or ?N placeholders;
// the PostgreSQL dialect rewrites them (q).
type dialect struct {
	name string
	// consistent is the transaction a multi-statement read (a snapshot,
	// a summary) runs in, so that its statements see one state.
	consistent *sql.TxOptions
	// lockVersion reads the lists version at the start of a write,
	// holding it until the write commits: the writes of all servers to
	// the lists are serialised, and their versions are in commit order.
	lockVersion string
	rewrite     func(string) string
}

var (
	sqliteDialect = &dialect{
		name:        "sqlite",
		lockVersion: "SELECT version FROM lists_version WHERE id = 1",
		rewrite:     func(q string) string { return q },
	}
	postgresDialect = &dialect{
		name:        "postgres",
		consistent:  &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		lockVersion: "SELECT version FROM lists_version WHERE id = 1 FOR UPDATE",
		rewrite:     rebindPostgres,
	}
)

// q returns query in the store's dialect.
func (s *Store) q(query string) string { return s.d.rewrite(query) }

// rebindPostgres rewrites a query written for SQLite for PostgreSQL:
// ?N placeholders become $N and bare ? the next $N; SQLite's index hints
// and temp. schema go.
func rebindPostgres(q string) string {
	q = strings.ReplaceAll(q, " INDEXED BY list_entries_kept", "")
	q = strings.ReplaceAll(q, "temp.", "pg_temp.")
	if !strings.Contains(q, "?") {
		return q
	}
	var (
		b strings.Builder
		n int
	)
	b.Grow(len(q) + 16)
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '?' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		b.WriteByte('$')
		if j > i+1 {
			b.WriteString(q[i+1 : j])
			i = j - 1
			continue
		}
		n++
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

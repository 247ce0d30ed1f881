package store

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/pgtest"
)

// The store's tests run against SQLite, and against PostgreSQL with
// CALLSCREEN_STORE_BACKEND=postgres (`make unit` runs them both ways): one
// behaviour, one suite. The PostgreSQL run starts a throwaway cluster
// (internal/pgtest), or uses the server at CALLSCREEN_TEST_POSTGRES (a
// URL whose user may create databases).

// BackendEnv selects the database the suite runs against.
const BackendEnv = "CALLSCREEN_STORE_BACKEND"

// pg is the cluster of a PostgreSQL run started by TestMain.
var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	if os.Getenv(BackendEnv) == "postgres" && os.Getenv("CALLSCREEN_TEST_POSTGRES") == "" {
		pgtest.Main(m, &pg)
	}
	os.Exit(m.Run())
}

// dbSeq numbers the databases the tests create.
var dbSeq atomic.Int64

// testDatabase returns the database setting of a fresh, empty database
// for t: a file in a temporary directory, or a new PostgreSQL database
// dropped when the test ends.
func testDatabase(t testing.TB) string {
	t.Helper()
	if pg != nil {
		return pg.NewDatabase(t)
	}
	admin := os.Getenv("CALLSCREEN_TEST_POSTGRES")
	if admin == "" {
		if os.Getenv(BackendEnv) == "postgres" {
			t.Skip("PostgreSQL is not installed")
		}
		return filepath.Join(t.TempDir(), "callscreen.db")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("callscreen_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		for range 50 { // the store's connections close asynchronously
			if _, err := db.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// onPostgres reports whether the tests run against PostgreSQL.
func onPostgres() bool {
	return os.Getenv("CALLSCREEN_TEST_POSTGRES") != "" || os.Getenv(BackendEnv) == "postgres"
}

// sqliteOnly skips a test of SQLite's own behaviour (files, locks,
// PRAGMAs) when the suite runs against PostgreSQL.
func sqliteOnly(t testing.TB) {
	t.Helper()
	if onPostgres() {
		t.Skip("SQLite only")
	}
}

// testJournal is where a test keeps the call log journal of database db:
// beside a SQLite file, in the test's temporary directory for PostgreSQL
// (removed with it).
func testJournal(t testing.TB, db string) string {
	if !IsPostgres(db) {
		return db + "-pending"
	}
	return filepath.Join(t.TempDir(), "pending")
}

package store

import "testing"

func TestRebindPostgres(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"},
		{"VALUES (?1, ?2, coalesce(?6, ?7)) SET c = ?6", "VALUES ($1, $2, coalesce($6, $7)) SET c = $6"},
		{"DELETE FROM list_entries INDEXED BY list_entries_kept WHERE x = ?", "DELETE FROM list_entries WHERE x = $1"},
		{"INSERT INTO temp.import_staging VALUES (?)", "INSERT INTO pg_temp.import_staging VALUES ($1)"},
		{"LIMIT ? OFFSET ?10", "LIMIT $1 OFFSET $10"},
	} {
		if got := rebindPostgres(tc.in); got != tc.want {
			t.Errorf("rebindPostgres(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

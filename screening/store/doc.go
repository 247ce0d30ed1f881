// Package store keeps callscreen's state on disk: the allow, block and
// do-not-originate lists, and the call log.
//
// # What it holds
//
// Lists: one row per entry (kind, E.164 number or prefix pattern, optional
// expiry, source, reason, creation time), unique per kind and number.
// Operators edit them one entry at a time (Put, Delete) or in bulk from CSV
// (Import, Export); the engine reads them as a compact in-memory
// screening.ListSnapshot built by Snapshot, and never queries the database
// while a call waits.
//
// Call log: one row per screened call (screening.Record), with the fields
// the log is searched and summarised by in columns and the whole record as
// JSON. The call path writes through a LogWriter, which queues records and
// writes them in batches in the background: a slow or failing disk loses
// log rows (counted and logged), never delays or drops a call.
//
// # Why SQLite
//
// A small business's PBX runs one callscreen next to one Asterisk. An
// embedded database needs no server to install, secure or keep running,
// lives in one file, and is fast enough by a wide margin: millions of list
// entries load in seconds and the call log takes thousands of rows a
// second. The driver is modernc.org/sqlite, pure Go, so the binary stays
// free of cgo. The database runs in WAL mode, so reads (the CLI, snapshots)
// never wait for the writer, with synchronous=NORMAL: a power cut may lose
// the last moments of call log, never corrupt the file.
//
// The schema is a numbered list of migrations embedded in the binary
// (migrations/NNNN_name.sql); PRAGMA user_version records how many have been
// applied, and Open applies the rest, each in its own transaction.
//
// # Backups
//
// Copying the database file alone while callscreen runs is not safe: recent
// changes may still be in the -wal file beside it. Any of these is:
//
//	callscreen's Store.Backup (VACUUM INTO), a consistent compacted copy
//	sqlite3 /var/lib/callscreen/callscreen.db ".backup /backup/callscreen.db"
//	sqlite3 /var/lib/callscreen/callscreen.db "PRAGMA wal_checkpoint(TRUNCATE)"
//	  and then copy the .db file, or stop callscreen and copy the .db,
//	  -wal and -shm files together
//
// Lists can also be kept as CSV with Export, which Import reads back.
//
// # Several servers
//
// When several Asterisk servers share lists and velocity, each runs its own
// callscreen and they share state through PostgreSQL. That backend is
// future work; it will offer the same methods as Store, so callers should
// depend on the methods, not on SQLite.
package store

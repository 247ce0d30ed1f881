-- Lists: allow, block and do-not-originate entries.
--
-- Times are Unix nanoseconds (UTC). expires is NULL for an entry that never
-- expires; an entry is active while expires > now.
CREATE TABLE list_entries (
	kind    TEXT    NOT NULL CHECK (kind = 'allow' OR kind = 'block' OR kind = 'dno'),
	number  TEXT    NOT NULL, -- E.164 ("+81312345678") or prefix ("+4470*")
	expires INTEGER,
	source  TEXT    NOT NULL DEFAULT '',
	reason  TEXT    NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	PRIMARY KEY (kind, number)
) WITHOUT ROWID;

-- The few entries a list snapshot keeps whole (prefix patterns, entries
-- that expire, and those from the sources ListBuilder keeps whole), so
-- that loading millions of plain numbers does not scan for them, and so
-- that purging expired entries does not scan either. The condition must
-- match store.snapshotKept exactly for SQLite to use the index; it avoids
-- IN (...), which costs a temporary table on every insert.
CREATE INDEX list_entries_kept ON list_entries (expires)
	WHERE expires IS NOT NULL OR number LIKE '%*' OR source = 'challenge' OR source = 'velocity' OR source = 'callback';

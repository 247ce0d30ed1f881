-- Fleet mode: list entries get a tenant scope ('' applies to every tenant
-- sharing the database), call records the server and tenant that screened
-- them, and every change to the lists a row in list_changes, the feed a
-- running server follows instead of reloading the whole lists.
--
-- The primary key takes the tenant first: two shops may each allow the
-- same number. SQLite cannot change a primary key in place, so the table
-- is rebuilt (the entries keep their version: nothing in force changed).
CREATE TABLE list_entries_scoped (
	tenant  TEXT    NOT NULL DEFAULT '',
	kind    TEXT    NOT NULL CHECK (kind = 'allow' OR kind = 'block' OR kind = 'dno'),
	number  TEXT    NOT NULL,
	expires INTEGER,
	source  TEXT    NOT NULL DEFAULT '',
	reason  TEXT    NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	PRIMARY KEY (tenant, kind, number)
) WITHOUT ROWID;
INSERT INTO list_entries_scoped (tenant, kind, number, expires, source, reason, created)
	SELECT '', kind, number, expires, source, reason, created FROM list_entries;
DROP TABLE list_entries;
ALTER TABLE list_entries_scoped RENAME TO list_entries;

CREATE INDEX list_entries_kept ON list_entries (expires)
	WHERE expires IS NOT NULL OR number LIKE '%*' OR source <> 'import';
CREATE INDEX list_entries_number ON list_entries (kind, number);

CREATE TRIGGER list_entries_insert AFTER INSERT ON list_entries
BEGIN
	UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER list_entries_update AFTER UPDATE ON list_entries
BEGIN
	UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER list_entries_delete AFTER DELETE ON list_entries
BEGIN
	UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;

-- One row per write to the lists: version is the lists version after it,
-- steps how many versions it took (a change of N rows takes N here). op is
-- put, delete, bulk (an import: followers reload) or purge (expired
-- entries removed: nothing in force changed).
CREATE TABLE list_changes (
	version INTEGER PRIMARY KEY,
	steps   INTEGER NOT NULL,
	op      TEXT    NOT NULL,
	tenant  TEXT    NOT NULL DEFAULT '',
	kind    TEXT    NOT NULL DEFAULT '',
	number  TEXT    NOT NULL DEFAULT '',
	expires INTEGER,
	source  TEXT    NOT NULL DEFAULT '',
	reason  TEXT    NOT NULL DEFAULT '',
	created INTEGER,
	made    INTEGER NOT NULL -- Unix nanoseconds, for pruning
);

ALTER TABLE call_log ADD COLUMN server TEXT NOT NULL DEFAULT '';
ALTER TABLE call_log ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
CREATE INDEX call_log_tenant ON call_log (tenant, time);

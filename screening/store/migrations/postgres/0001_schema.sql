-- The fleet database: the same tables as the SQLite store (see
-- migrations/sqlite), in PostgreSQL's types. Times are Unix nanoseconds
-- (UTC) in BIGINT columns, as in SQLite.

CREATE TABLE list_entries (
	tenant  TEXT   NOT NULL DEFAULT '',
	kind    TEXT   NOT NULL CHECK (kind IN ('allow', 'block', 'dno')),
	number  TEXT   NOT NULL,
	expires BIGINT,
	source  TEXT   NOT NULL DEFAULT '',
	reason  TEXT   NOT NULL DEFAULT '',
	created BIGINT NOT NULL,
	PRIMARY KEY (tenant, kind, number)
);
CREATE INDEX list_entries_kept ON list_entries (expires)
	WHERE expires IS NOT NULL OR number LIKE '%*' OR source <> 'import';
CREATE INDEX list_entries_number ON list_entries (kind, number);

-- Raised by every statement that changes list_entries (a hand edit in psql
-- included), so that followers notice it.
CREATE TABLE lists_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT  NOT NULL
);
INSERT INTO lists_version (id, version) VALUES (1, 0);

CREATE FUNCTION callscreen_bump_lists_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE lists_version SET version = version + 1 WHERE id = 1;
	RETURN NULL;
END
$$;
CREATE TRIGGER list_entries_changed AFTER INSERT OR UPDATE OR DELETE ON list_entries
	FOR EACH STATEMENT EXECUTE FUNCTION callscreen_bump_lists_version();

CREATE TABLE list_changes (
	version BIGINT PRIMARY KEY,
	steps   BIGINT NOT NULL,
	op      TEXT   NOT NULL,
	tenant  TEXT   NOT NULL DEFAULT '',
	kind    TEXT   NOT NULL DEFAULT '',
	number  TEXT   NOT NULL DEFAULT '',
	expires BIGINT,
	source  TEXT   NOT NULL DEFAULT '',
	reason  TEXT   NOT NULL DEFAULT '',
	created BIGINT,
	made    BIGINT NOT NULL
);

CREATE TABLE call_log (
	id          TEXT    NOT NULL PRIMARY KEY,
	time        BIGINT  NOT NULL,
	mode        TEXT    NOT NULL,
	caller      TEXT    NOT NULL,
	called      TEXT    NOT NULL,
	profile     TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	taken       TEXT    NOT NULL,
	outcome     TEXT    NOT NULL,
	score       INTEGER NOT NULL,
	presence    TEXT    NOT NULL,
	reasons     TEXT    NOT NULL,
	monitor     INTEGER NOT NULL,
	decision_ns BIGINT  NOT NULL,
	handling_ns BIGINT  NOT NULL,
	record      TEXT    NOT NULL,
	server      TEXT    NOT NULL DEFAULT '',
	tenant      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX call_log_time ON call_log (time);
CREATE INDEX call_log_caller ON call_log (caller);
CREATE INDEX call_log_action ON call_log (action, time);
CREATE INDEX call_log_tenant ON call_log (tenant, time);

-- SQLite's instr, which the call log search uses.
CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER
	LANGUAGE sql IMMUTABLE STRICT AS 'SELECT strpos(haystack, needle)';

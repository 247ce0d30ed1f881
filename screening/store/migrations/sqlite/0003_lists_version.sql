-- A counter bumped by every change to the lists, so that a running server
-- notices changes made by another process (the CLI, the admin API) with
-- one cheap read instead of a scan.
CREATE TABLE lists_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO lists_version (id, version) VALUES (1, 0);

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

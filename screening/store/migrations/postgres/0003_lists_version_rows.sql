-- The lists version moves only for a statement that changed rows, as on
-- SQLite: a delete of a number not on the list, or the insert half of an
-- upsert that updated, leaves it (and the feed) alone.
DROP TRIGGER list_entries_changed ON list_entries;

CREATE FUNCTION callscreen_bump_lists_version_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM changed_rows) THEN
		UPDATE lists_version SET version = version + 1 WHERE id = 1;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER list_entries_inserted AFTER INSERT ON list_entries
	REFERENCING NEW TABLE AS changed_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callscreen_bump_lists_version_rows();
CREATE TRIGGER list_entries_updated AFTER UPDATE ON list_entries
	REFERENCING NEW TABLE AS changed_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callscreen_bump_lists_version_rows();
CREATE TRIGGER list_entries_deleted AFTER DELETE ON list_entries
	REFERENCING OLD TABLE AS changed_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callscreen_bump_lists_version_rows();

DROP FUNCTION callscreen_bump_lists_version();

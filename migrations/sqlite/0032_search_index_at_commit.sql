-- The users' search index (0022) written once per group commit instead of once per write.
-- FTS5 writes the terms it holds to disk at every savepoint, and each write of the writer's group
-- commit is a savepoint (roster_shared::store::writer): a new index segment per created user,
-- merged again and again. While the writer's group is open, a row in scim_users_fts_deferred
-- (inserted after its BEGIN, deleted before its COMMIT: never committed, so no other connection
-- ever sees it) turns the triggers to queue the index's changes in scim_users_fts_queue, in
-- order; the writer applies them to the index and empties the queue just before the group's
-- COMMIT, in the same transaction. Any other writer (a CLI command, the sqlx pool, a previous
-- release of Roster) finds the table empty and writes the index at once, as before.
CREATE TABLE scim_users_fts_deferred (deferred INTEGER PRIMARY KEY);
CREATE TABLE scim_users_fts_queue (
    seq         INTEGER PRIMARY KEY,
    removed     BOOLEAN NOT NULL,
    doc         INTEGER NOT NULL,
    search_text TEXT
);

DROP TRIGGER scim_users_fts_insert;
DROP TRIGGER scim_users_fts_delete;
DROP TRIGGER scim_users_fts_update;

CREATE TRIGGER scim_users_fts_insert AFTER INSERT ON scim_users
WHEN NOT EXISTS (SELECT 1 FROM scim_users_fts_deferred) BEGIN
    INSERT INTO scim_users_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER scim_users_fts_delete AFTER DELETE ON scim_users
WHEN NOT EXISTS (SELECT 1 FROM scim_users_fts_deferred) BEGIN
    INSERT INTO scim_users_fts (scim_users_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER scim_users_fts_update AFTER UPDATE OF search_text ON scim_users
WHEN old.search_text IS NOT new.search_text AND NOT EXISTS (SELECT 1 FROM scim_users_fts_deferred) BEGIN
    INSERT INTO scim_users_fts (scim_users_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO scim_users_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TRIGGER scim_users_fts_insert_queued AFTER INSERT ON scim_users
WHEN EXISTS (SELECT 1 FROM scim_users_fts_deferred) BEGIN
    INSERT INTO scim_users_fts_queue (removed, doc, search_text) VALUES (FALSE, new.rowid, new.search_text);
END;
CREATE TRIGGER scim_users_fts_delete_queued AFTER DELETE ON scim_users
WHEN EXISTS (SELECT 1 FROM scim_users_fts_deferred) BEGIN
    INSERT INTO scim_users_fts_queue (removed, doc, search_text) VALUES (TRUE, old.rowid, old.search_text);
END;
CREATE TRIGGER scim_users_fts_update_queued AFTER UPDATE OF search_text ON scim_users
WHEN old.search_text IS NOT new.search_text AND EXISTS (SELECT 1 FROM scim_users_fts_deferred) BEGIN
    INSERT INTO scim_users_fts_queue (removed, doc, search_text) VALUES (TRUE, old.rowid, old.search_text);
    INSERT INTO scim_users_fts_queue (removed, doc, search_text) VALUES (FALSE, new.rowid, new.search_text);
END;

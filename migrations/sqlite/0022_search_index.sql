-- The users table's substring search through a trigram index (FTS5, see
-- roster_shared::store::directory). External content: the index keeps no copy of the text, only
-- which rows hold each trigram (detail=none), and reads scim_users.search_text to confirm a
-- candidate. The triggers keep it in step with every write to scim_users, in the same transaction.
CREATE VIRTUAL TABLE scim_users_fts USING fts5(
    search_text,
    content = 'scim_users',
    content_rowid = 'rowid',
    tokenize = 'trigram',
    detail = 'none',
    columnsize = 0
);
CREATE TRIGGER scim_users_fts_insert AFTER INSERT ON scim_users BEGIN
    INSERT INTO scim_users_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER scim_users_fts_delete AFTER DELETE ON scim_users BEGIN
    INSERT INTO scim_users_fts (scim_users_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER scim_users_fts_update AFTER UPDATE OF search_text ON scim_users
WHEN old.search_text IS NOT new.search_text BEGIN
    INSERT INTO scim_users_fts (scim_users_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO scim_users_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
INSERT INTO scim_users_fts (scim_users_fts) VALUES ('rebuild');

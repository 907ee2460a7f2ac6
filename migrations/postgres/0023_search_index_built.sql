-- The trigram index of the users table's search text, built CONCURRENTLY so that SCIM writes go
-- on while it builds (this migration runs outside a transaction; a single statement).
CREATE INDEX CONCURRENTLY IF NOT EXISTS scim_users_search_trgm ON scim_users USING gin (search_text gin_trgm_ops);

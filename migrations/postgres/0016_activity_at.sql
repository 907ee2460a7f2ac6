-- Retention deletes old activity across tenants in batches, oldest first: an index on the
-- time alone, built CONCURRENTLY so that SCIM writes go on while it builds (this migration
-- runs outside a transaction; a single statement, as CONCURRENTLY requires).
CREATE INDEX CONCURRENTLY IF NOT EXISTS activity_at ON activity (at);

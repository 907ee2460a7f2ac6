-- Retention deletes old activity across tenants in batches, oldest first: an index on the
-- time alone. (PostgreSQL builds it CONCURRENTLY, outside a transaction: writes go on.)
CREATE INDEX IF NOT EXISTS activity_at ON activity (at);

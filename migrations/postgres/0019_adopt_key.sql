-- The adoption lookup of a SCIM create (see 0018): built CONCURRENTLY so that SCIM writes go on
-- while it builds (this migration runs outside a transaction; a single statement).
CREATE INDEX CONCURRENTLY IF NOT EXISTS scim_users_adopt_key ON scim_users (tenant_id, adopt_key) WHERE adopt_key IS NOT NULL;

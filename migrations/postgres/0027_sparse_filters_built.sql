-- The users table's sparse filters: users not from SCIM (just-in-time, manual). Partial; built
-- CONCURRENTLY (outside a transaction; a single statement).
CREATE INDEX CONCURRENTLY IF NOT EXISTS scim_users_not_scim ON scim_users (tenant_id, source, id) WHERE source <> 'scim';

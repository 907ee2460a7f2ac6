-- The users table's sparse filters: deactivated users found without walking every user of the
-- tenant (see roster_shared::store::directory). Partial: only those rows are indexed. Built
-- CONCURRENTLY (outside a transaction; a single statement).
CREATE INDEX CONCURRENTLY IF NOT EXISTS scim_users_deactivated ON scim_users (tenant_id, id) WHERE active = FALSE;

-- The activity log's failed requests, newest first: the SCIM page's latest errors and the
-- Activity page's "errors" filter walk this instead of every record of the tenant (a tenant whose
-- requests rarely fail had all of them read to find five). Partial: only a failed record writes
-- an entry. (PostgreSQL builds it CONCURRENTLY, outside a transaction: writes go on.)
CREATE INDEX IF NOT EXISTS activity_tenant_failed ON activity (tenant_id, at) WHERE status >= 400;

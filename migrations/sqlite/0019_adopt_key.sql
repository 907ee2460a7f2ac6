-- The adoption lookup of a SCIM create (see 0018). (PostgreSQL builds it CONCURRENTLY.)
CREATE INDEX IF NOT EXISTS scim_users_adopt_key ON scim_users (tenant_id, adopt_key) WHERE adopt_key IS NOT NULL;

-- The users table's sparse filters, deactivated users and those not from SCIM (just-in-time,
-- manual): their rows found without walking every user of the tenant (see
-- roster_shared::store::directory). Partial: only those rows are indexed, so a write of an
-- active SCIM user does not touch them.
CREATE INDEX IF NOT EXISTS scim_users_deactivated ON scim_users (tenant_id, id) WHERE active = FALSE;
CREATE INDEX IF NOT EXISTS scim_users_not_scim ON scim_users (tenant_id, source, id) WHERE source <> 'scim';

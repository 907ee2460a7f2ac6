-- Whether a tenant has something to place (a mapping rule, on or off, or a default user group),
-- read by a write that placed nothing because its instance's cache said the tenant had nothing
-- to place. That cache may be a moment old: another instance may have saved the tenant's first
-- rule, and its run may have ended, before this instance's notice arrived.
--
-- It first takes the tenant's placement lock shared (the key of `TenantTx::lock_placement`),
-- held to the end of the write's transaction; a change that gives a tenant its first rule or a
-- default group takes that lock exclusively before it commits. So either the write holds the lock
-- first, commits before the change does, and the run the change starts sees it; or the change
-- commits first, and this reads it: VOLATILE, each query here reads with a snapshot taken after
-- the lock was granted (under READ COMMITTED), not with the calling statement's.
CREATE OR REPLACE FUNCTION roster_placing(t TEXT) RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('roster:placement:' || t));
    RETURN EXISTS (SELECT 1 FROM mapping_rules WHERE tenant_id = t)
        OR EXISTS (SELECT 1 FROM user_groups WHERE tenant_id = t AND is_default);
END
$$;

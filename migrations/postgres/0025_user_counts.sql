-- How many users each tenant has, by source and active: the totals the users lists show (the
-- SCIM list's totalResults, the dashboard's users table and its filters), kept by triggers in
-- the transaction of every write instead of counted per page (60–500 ms at a million users).
-- A counter row updated by every write would hold its lock until COMMIT and make a tenant's
-- writes commit one at a time, so each write statement adds a row of differences instead, and
-- the store folds them now and then (`Store::fold_user_counts`); a count is the sum of the
-- tenant's rows, which a fold leaves unchanged.
CREATE TABLE user_counts (
    tenant_id TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source    TEXT    NOT NULL,
    active    BOOLEAN NOT NULL,
    users     BIGINT  NOT NULL
);
CREATE INDEX user_counts_tenant ON user_counts (tenant_id);

-- Inserted rows count +1, deleted rows -1: one row per statement and (source, active).
CREATE FUNCTION user_counts_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_counts (tenant_id, source, active, users)
        SELECT tenant_id, source, active, COUNT(*) FROM changed_rows GROUP BY tenant_id, source, active;
    ELSE
        INSERT INTO user_counts (tenant_id, source, active, users)
        SELECT tenant_id, source, active, -COUNT(*) FROM changed_rows GROUP BY tenant_id, source, active;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_counts_insert AFTER INSERT ON scim_users
REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_statement();
CREATE TRIGGER user_counts_delete AFTER DELETE ON scim_users
REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_statement();

-- Row by row, and only when source or active changed (the WHEN is tested without calling the
-- function): most updates change neither.
CREATE FUNCTION user_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts (tenant_id, source, active, users)
    VALUES (OLD.tenant_id, OLD.source, OLD.active, -1), (NEW.tenant_id, NEW.source, NEW.active, 1);
    RETURN NULL;
END $$;
CREATE TRIGGER user_counts_update AFTER UPDATE OF source, active ON scim_users
FOR EACH ROW WHEN (OLD.source IS DISTINCT FROM NEW.source OR OLD.active IS DISTINCT FROM NEW.active)
EXECUTE FUNCTION user_counts_updated();

-- Counted after the triggers exist: creating them locked out writers until this commits, so
-- no write falls between the count and the triggers.
INSERT INTO user_counts (tenant_id, source, active, users)
SELECT tenant_id, source, active, COUNT(*) FROM scim_users GROUP BY tenant_id, source, active;

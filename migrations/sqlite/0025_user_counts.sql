-- How many users each tenant has, by source and active: the totals the users lists show (the
-- SCIM list's totalResults, the dashboard's users table and its filters), kept by triggers in
-- the transaction of every write instead of counted per page (60–500 ms at a million users).
-- SQLite has one writer at a time, so one row per (tenant, source, active) is updated in place;
-- PostgreSQL adds a row per write and folds them (see 0025 there).
CREATE TABLE user_counts (
    tenant_id TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source    TEXT    NOT NULL,
    active    BOOLEAN NOT NULL,
    users     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, source, active)
);
INSERT INTO user_counts (tenant_id, source, active, users)
SELECT tenant_id, source, active, COUNT(*) FROM scim_users GROUP BY tenant_id, source, active;
CREATE TRIGGER user_counts_insert AFTER INSERT ON scim_users BEGIN
    INSERT INTO user_counts (tenant_id, source, active, users) VALUES (new.tenant_id, new.source, new.active, 1)
    ON CONFLICT (tenant_id, source, active) DO UPDATE SET users = users + 1;
END;
CREATE TRIGGER user_counts_delete AFTER DELETE ON scim_users BEGIN
    UPDATE user_counts SET users = users - 1
    WHERE tenant_id = old.tenant_id AND source = old.source AND active = old.active;
END;
CREATE TRIGGER user_counts_update AFTER UPDATE OF source, active ON scim_users
WHEN old.source IS NOT new.source OR old.active IS NOT new.active BEGIN
    UPDATE user_counts SET users = users - 1
    WHERE tenant_id = old.tenant_id AND source = old.source AND active = old.active;
    INSERT INTO user_counts (tenant_id, source, active, users) VALUES (new.tenant_id, new.source, new.active, 1)
    ON CONFLICT (tenant_id, source, active) DO UPDATE SET users = users + 1;
END;

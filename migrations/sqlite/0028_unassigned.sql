-- Which users are unassigned (active and in no user group), kept by triggers in the transaction
-- of every write: the navigation's count and the Unassigned page read it instead of joining
-- every membership (about a second at a million users when most of them are assigned).
-- One row per user: how many membership rows it has (`groups`; a user in one group for two
-- reasons has two) and whether it is unassigned. SQLite has one writer at a time, so one count
-- row per tenant is updated in place; PostgreSQL adds rows of differences (see 0028 there).
CREATE TABLE user_assignment (
    tenant_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    active     BOOLEAN NOT NULL,
    groups     INTEGER NOT NULL,
    unassigned BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE INDEX user_assignment_unassigned ON user_assignment (tenant_id, user_id) WHERE unassigned;

CREATE TABLE unassigned_counts (
    tenant_id TEXT    NOT NULL PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    users     INTEGER NOT NULL
);

INSERT INTO user_assignment (tenant_id, user_id, active, groups, unassigned)
SELECT u.tenant_id, u.id, u.active, COUNT(m.user_id), u.active AND COUNT(m.user_id) = 0
FROM scim_users u
LEFT JOIN user_group_members m ON m.tenant_id = u.tenant_id AND m.user_id = u.id
GROUP BY u.tenant_id, u.id;
INSERT INTO unassigned_counts (tenant_id, users)
SELECT t.id, (SELECT COUNT(*) FROM user_assignment a WHERE a.tenant_id = t.id AND a.unassigned) FROM tenants t;

-- A user's row comes and goes with the user.
CREATE TRIGGER user_assignment_insert AFTER INSERT ON scim_users BEGIN
    INSERT INTO user_assignment (tenant_id, user_id, active, groups, unassigned)
    VALUES (new.tenant_id, new.id, new.active, 0, new.active);
    INSERT INTO unassigned_counts (tenant_id, users) VALUES (new.tenant_id, new.active = TRUE)
    ON CONFLICT (tenant_id) DO UPDATE SET users = users + excluded.users;
END;
CREATE TRIGGER user_assignment_delete AFTER DELETE ON scim_users BEGIN
    UPDATE unassigned_counts SET users = users - 1 WHERE tenant_id = old.tenant_id
    AND EXISTS (SELECT 1 FROM user_assignment WHERE tenant_id = old.tenant_id AND user_id = old.id AND unassigned);
    DELETE FROM user_assignment WHERE tenant_id = old.tenant_id AND user_id = old.id;
END;

-- A user activated or deactivated.
CREATE TRIGGER user_assignment_active AFTER UPDATE OF active ON scim_users
WHEN old.active IS NOT new.active BEGIN
    UPDATE user_assignment SET active = new.active, unassigned = new.active AND groups = 0
    WHERE tenant_id = new.tenant_id AND user_id = new.id;
    INSERT INTO unassigned_counts (tenant_id, users)
    SELECT tenant_id, CASE WHEN new.active THEN 1 ELSE -1 END FROM user_assignment
    WHERE tenant_id = new.tenant_id AND user_id = new.id AND groups = 0
    ON CONFLICT (tenant_id) DO UPDATE SET users = users + excluded.users;
END;

-- Memberships added or removed, a row at a time.
CREATE TRIGGER user_assignment_member_added AFTER INSERT ON user_group_members BEGIN
    INSERT INTO unassigned_counts (tenant_id, users)
    SELECT tenant_id, -1 FROM user_assignment WHERE tenant_id = new.tenant_id AND user_id = new.user_id AND unassigned
    ON CONFLICT (tenant_id) DO UPDATE SET users = users + excluded.users;
    UPDATE user_assignment SET groups = groups + 1, unassigned = FALSE
    WHERE tenant_id = new.tenant_id AND user_id = new.user_id;
END;
CREATE TRIGGER user_assignment_member_removed AFTER DELETE ON user_group_members BEGIN
    UPDATE user_assignment SET groups = groups - 1, unassigned = active AND groups = 1
    WHERE tenant_id = old.tenant_id AND user_id = old.user_id;
    INSERT INTO unassigned_counts (tenant_id, users)
    SELECT tenant_id, 1 FROM user_assignment WHERE tenant_id = old.tenant_id AND user_id = old.user_id AND unassigned AND groups = 0
    ON CONFLICT (tenant_id) DO UPDATE SET users = users + excluded.users;
END;

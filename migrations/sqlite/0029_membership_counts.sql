-- Each user's role and each user group's size, kept by triggers in the transaction of every
-- write: the users page's role and user-group filters and the user groups page read them
-- instead of testing every membership (a user group everyone is in took 949 ms to count at
-- 100,000 users, the role nearly everyone has 1,183 ms).
--
-- A user's role is the highest role among its user groups, NULL in none (then the
-- organization's default role applies, which is not stored here). The roles' names sort the
-- other way round from their rank ('admin' < 'member' < 'viewer'), so the highest is the MIN;
-- `dto::GroupRole` has a test that holds this.
ALTER TABLE user_assignment ADD COLUMN role TEXT;
UPDATE user_assignment SET role = (
    SELECT MIN(g.role) FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
    WHERE m.tenant_id = user_assignment.tenant_id AND m.user_id = user_assignment.user_id
);
CREATE INDEX user_assignment_role ON user_assignment (tenant_id, role, user_id);

-- How many users have each role ('' for those in no user group). SQLite has one writer at a
-- time, so one row per (tenant, role) is updated in place.
CREATE TABLE role_counts (
    tenant_id TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role      TEXT    NOT NULL,
    users     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, role)
) WITHOUT ROWID;
INSERT INTO role_counts (tenant_id, role, users)
SELECT tenant_id, COALESCE(role, ''), COUNT(*) FROM user_assignment GROUP BY tenant_id, COALESCE(role, '');

-- How many users each user group holds (a user there for two reasons counts once).
CREATE TABLE user_group_sizes (
    tenant_id TEXT    NOT NULL,
    group_id  TEXT    NOT NULL,
    users     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, group_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES user_groups (tenant_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO user_group_sizes (tenant_id, group_id, users)
SELECT g.tenant_id, g.id, (SELECT COUNT(DISTINCT m.user_id) FROM user_group_members m WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id)
FROM user_groups g;

-- The role counts follow the users' rows.
CREATE TRIGGER role_counts_insert AFTER INSERT ON user_assignment BEGIN
    INSERT INTO role_counts (tenant_id, role, users) VALUES (new.tenant_id, COALESCE(new.role, ''), 1)
    ON CONFLICT (tenant_id, role) DO UPDATE SET users = users + 1;
END;
CREATE TRIGGER role_counts_delete AFTER DELETE ON user_assignment BEGIN
    UPDATE role_counts SET users = users - 1 WHERE tenant_id = old.tenant_id AND role = COALESCE(old.role, '');
END;
CREATE TRIGGER role_counts_update AFTER UPDATE OF role ON user_assignment
WHEN old.role IS NOT new.role BEGIN
    UPDATE role_counts SET users = users - 1 WHERE tenant_id = old.tenant_id AND role = COALESCE(old.role, '');
    INSERT INTO role_counts (tenant_id, role, users) VALUES (new.tenant_id, COALESCE(new.role, ''), 1)
    ON CONFLICT (tenant_id, role) DO UPDATE SET users = users + 1;
END;

-- A user group starts empty (its row goes with it: the foreign key).
CREATE TRIGGER user_group_sizes_group AFTER INSERT ON user_groups BEGIN
    INSERT INTO user_group_sizes (tenant_id, group_id, users) VALUES (new.tenant_id, new.id, 0);
END;

-- A membership row added: the user's role rises to the group's if that is higher, and the
-- group grows if this is the user's only row there.
CREATE TRIGGER membership_counts_added AFTER INSERT ON user_group_members BEGIN
    UPDATE user_assignment SET role = (SELECT g.role FROM user_groups g WHERE g.tenant_id = new.tenant_id AND g.id = new.group_id)
    WHERE tenant_id = new.tenant_id AND user_id = new.user_id
    AND (role IS NULL OR role > (SELECT g.role FROM user_groups g WHERE g.tenant_id = new.tenant_id AND g.id = new.group_id));
    UPDATE user_group_sizes SET users = users + 1 WHERE tenant_id = new.tenant_id AND group_id = new.group_id
    AND NOT EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = new.tenant_id AND m.group_id = new.group_id
                    AND m.user_id = new.user_id AND (m.reason, m.rule_id) <> (new.reason, new.rule_id));
END;

-- A membership row removed: the user's role is found again from the groups left, and the
-- group shrinks if that was the user's last row there.
CREATE TRIGGER membership_counts_removed AFTER DELETE ON user_group_members BEGIN
    UPDATE user_assignment SET role = (
        SELECT MIN(g.role) FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
        WHERE m.tenant_id = old.tenant_id AND m.user_id = old.user_id
    ) WHERE tenant_id = old.tenant_id AND user_id = old.user_id;
    UPDATE user_group_sizes SET users = users - 1 WHERE tenant_id = old.tenant_id AND group_id = old.group_id
    AND NOT EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = old.tenant_id AND m.group_id = old.group_id
                    AND m.user_id = old.user_id);
END;

-- A user group's role changed: its members' roles are found again.
CREATE TRIGGER membership_counts_group_role AFTER UPDATE OF role ON user_groups
WHEN old.role IS NOT new.role BEGIN
    UPDATE user_assignment SET role = (
        SELECT MIN(g.role) FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
        WHERE m.tenant_id = user_assignment.tenant_id AND m.user_id = user_assignment.user_id
    ) WHERE tenant_id = new.tenant_id
    AND user_id IN (SELECT m.user_id FROM user_group_members m WHERE m.tenant_id = new.tenant_id AND m.group_id = new.id);
END;

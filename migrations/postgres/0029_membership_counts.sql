-- Each user's role and each user group's size, kept by triggers in the transaction of every
-- write: the users page's role and user-group filters and the user groups page read them
-- instead of testing every membership (at a million users a user group everyone is in took
-- 3.1 s to count, the role nearly everyone has 7.0 s).
--
-- A user's role is the highest role among its user groups, NULL in none (then the
-- organization's default role applies, which is not stored here). The roles' names sort the
-- other way round from their rank ('admin' < 'member' < 'viewer'), so the highest is the MIN;
-- `dto::GroupRole` has a test that holds this.
--
-- Adding the column locks `user_assignment` until this commits, and every membership write
-- goes through it (0028's triggers): no write falls between the fills below and the triggers.
ALTER TABLE user_assignment ADD COLUMN role TEXT;
UPDATE user_assignment a SET role = r.role
FROM (SELECT m.tenant_id, m.user_id, MIN(g.role) AS role
      FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
      GROUP BY m.tenant_id, m.user_id) r
WHERE a.tenant_id = r.tenant_id AND a.user_id = r.user_id;
CREATE INDEX user_assignment_role ON user_assignment (tenant_id, role, user_id);

-- How many users have each role ('' for those in no user group), and how many users each user
-- group holds (a user there for two reasons counts once). As with `user_counts` (0025), each
-- write statement adds rows of differences, and `Store::fold_user_counts` folds them.
CREATE TABLE role_counts (
    tenant_id TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role      TEXT   NOT NULL,
    users     BIGINT NOT NULL
);
CREATE INDEX role_counts_tenant ON role_counts (tenant_id);
CREATE TABLE user_group_sizes (
    tenant_id TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    group_id  TEXT   NOT NULL,
    users     BIGINT NOT NULL
);
CREATE INDEX user_group_sizes_group ON user_group_sizes (tenant_id, group_id);

-- The role counts follow the users' rows: each statement's rows before and after.
CREATE FUNCTION role_counts_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO role_counts (tenant_id, role, users)
        SELECT tenant_id, COALESCE(role, ''), COUNT(*) FROM new_rows GROUP BY 1, 2;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO role_counts (tenant_id, role, users)
        SELECT tenant_id, COALESCE(role, ''), -COUNT(*) FROM old_rows GROUP BY 1, 2;
    ELSE
        INSERT INTO role_counts (tenant_id, role, users)
        SELECT tenant_id, role, SUM(n) FROM (
            SELECT tenant_id, COALESCE(role, '') AS role, -1 AS n FROM old_rows
            UNION ALL SELECT tenant_id, COALESCE(role, ''), 1 FROM new_rows
        ) d GROUP BY 1, 2 HAVING SUM(n) <> 0;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER role_counts_insert AFTER INSERT ON user_assignment
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION role_counts_statement();
CREATE TRIGGER role_counts_delete AFTER DELETE ON user_assignment
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION role_counts_statement();
CREATE TRIGGER role_counts_update AFTER UPDATE ON user_assignment
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION role_counts_statement();

-- Memberships added or removed (replacing 0028's function, which this extends). In order:
--   1. the statement's user groups are locked for share, in one order: a change of a group's
--      role (below) waits for this transaction, and this one for it, so the roles read here
--      are the ones committed;
--   2. the users' rows, in one order (0028), so that two statements changing the same users
--      wait for each other: each statement after the lock sees what the other committed;
--   3. each user's membership count, unassigned flag and role (raised to the added groups'
--      highest; found again from the groups left after a removal);
--   4. the groups' sizes: a user counts where the statement added all of its rows in that
--      group, or removed the last.
CREATE OR REPLACE FUNCTION user_assignment_members() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    step INTEGER := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM 1 FROM user_groups g
    WHERE (g.tenant_id, g.id) IN (SELECT tenant_id, group_id FROM changed_rows)
    ORDER BY g.tenant_id, g.id
    FOR SHARE;
    PERFORM 1 FROM user_assignment a
    WHERE (a.tenant_id, a.user_id) IN (SELECT tenant_id, user_id FROM changed_rows)
    ORDER BY a.tenant_id, a.user_id
    FOR UPDATE;
    WITH d AS (
        SELECT c.tenant_id, c.user_id, step * COUNT(*)::INTEGER AS n, MIN(g.role) AS role
        FROM changed_rows c LEFT JOIN user_groups g ON g.tenant_id = c.tenant_id AND g.id = c.group_id
        GROUP BY c.tenant_id, c.user_id
    ),
    moved AS (
        UPDATE user_assignment a SET groups = a.groups + d.n, unassigned = a.active AND a.groups + d.n = 0,
            role = CASE
                WHEN step > 0 THEN LEAST(a.role, d.role)
                ELSE (SELECT MIN(g.role) FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
                      WHERE m.tenant_id = a.tenant_id AND m.user_id = a.user_id)
            END
        FROM d WHERE a.tenant_id = d.tenant_id AND a.user_id = d.user_id
        -- RETURNING sees the new row: `unassigned` after, `groups - n` before.
        RETURNING a.tenant_id, a.unassigned::INTEGER - (a.active AND a.groups - d.n = 0)::INTEGER AS change
    )
    INSERT INTO unassigned_counts (tenant_id, users)
    SELECT tenant_id, SUM(change) FROM moved GROUP BY tenant_id HAVING SUM(change) <> 0;
    WITH pairs AS (
        SELECT tenant_id, group_id, user_id, COUNT(*) AS n FROM changed_rows GROUP BY tenant_id, group_id, user_id
    )
    INSERT INTO user_group_sizes (tenant_id, group_id, users)
    SELECT p.tenant_id, p.group_id, step * COUNT(*) FROM pairs p
    WHERE EXISTS (SELECT 1 FROM user_groups g WHERE g.tenant_id = p.tenant_id AND g.id = p.group_id)
    AND CASE WHEN step > 0
        THEN (SELECT COUNT(*) FROM user_group_members m
              WHERE m.tenant_id = p.tenant_id AND m.group_id = p.group_id AND m.user_id = p.user_id) = p.n
        ELSE NOT EXISTS (SELECT 1 FROM user_group_members m
              WHERE m.tenant_id = p.tenant_id AND m.group_id = p.group_id AND m.user_id = p.user_id)
    END
    GROUP BY p.tenant_id, p.group_id;
    RETURN NULL;
END $$;

-- A user group's role changed: its members' roles are found again, their rows locked first in
-- the order the memberships' function locks them.
CREATE FUNCTION membership_counts_group_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM user_assignment a
    WHERE a.tenant_id = NEW.tenant_id
    AND a.user_id IN (SELECT m.user_id FROM user_group_members m WHERE m.tenant_id = NEW.tenant_id AND m.group_id = NEW.id)
    ORDER BY a.tenant_id, a.user_id
    FOR UPDATE;
    UPDATE user_assignment a SET role = (
        SELECT MIN(g.role) FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
        WHERE m.tenant_id = a.tenant_id AND m.user_id = a.user_id
    ) WHERE a.tenant_id = NEW.tenant_id
    AND a.user_id IN (SELECT m.user_id FROM user_group_members m WHERE m.tenant_id = NEW.tenant_id AND m.group_id = NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER membership_counts_group_role AFTER UPDATE OF role ON user_groups
FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
EXECUTE FUNCTION membership_counts_group_role();

-- A user group deleted: its size goes with it (the memberships' function counts no group
-- that is gone, whichever of the two runs first).
CREATE FUNCTION user_group_sizes_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_group_sizes s USING gone_groups o WHERE s.tenant_id = o.tenant_id AND s.group_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER user_group_sizes_gone AFTER DELETE ON user_groups
REFERENCING OLD TABLE AS gone_groups FOR EACH STATEMENT EXECUTE FUNCTION user_group_sizes_gone();

INSERT INTO role_counts (tenant_id, role, users)
SELECT tenant_id, COALESCE(role, ''), COUNT(*) FROM user_assignment GROUP BY 1, 2;
INSERT INTO user_group_sizes (tenant_id, group_id, users)
SELECT m.tenant_id, m.group_id, COUNT(DISTINCT m.user_id) FROM user_group_members m GROUP BY 1, 2;

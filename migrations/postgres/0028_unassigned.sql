-- Which users are unassigned (active and in no user group), kept by triggers in the transaction
-- of every write: the navigation's count and the Unassigned page read it instead of joining
-- every membership (about a second at a million users when most of them are assigned).
--
-- One row per user: how many membership rows it has (`groups`; a user in one group for two
-- reasons has two) and whether it is unassigned. Every change to a user's memberships or to its
-- `active` updates that user's row, so two transactions changing one user (a membership added
-- while the last other one is removed; a user deactivated while being assigned) queue on the row
-- and the second sees the first's result. A flag recomputed from the memberships instead would
-- not see the other transaction's uncommitted rows.
CREATE TABLE user_assignment (
    tenant_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    active     BOOLEAN NOT NULL,
    groups     INTEGER NOT NULL,
    unassigned BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITH (fillfactor = 80);
-- `groups` is in no index: a membership change that leaves `unassigned` as it was (a user moved
-- from one group to another) is a HOT update, with room for it on the page.
CREATE INDEX user_assignment_unassigned ON user_assignment (tenant_id, user_id) WHERE unassigned;

-- A tenant's unassigned users: the sum of its rows. As with `user_counts` (0025), each write
-- statement adds a row of differences instead of updating one counter row (which would make a
-- tenant's writes commit one at a time), and `Store::fold_user_counts` folds them.
CREATE TABLE unassigned_counts (
    tenant_id TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    users     BIGINT NOT NULL
);
CREATE INDEX unassigned_counts_tenant ON unassigned_counts (tenant_id);

-- A user's row comes and goes with the user.
CREATE FUNCTION user_assignment_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_assignment (tenant_id, user_id, active, groups, unassigned)
        SELECT tenant_id, id, active, 0, active FROM changed_rows;
        INSERT INTO unassigned_counts (tenant_id, users)
        SELECT tenant_id, COUNT(*) FROM changed_rows WHERE active GROUP BY tenant_id;
    ELSE
        WITH gone AS (
            DELETE FROM user_assignment a USING changed_rows o
            WHERE a.tenant_id = o.tenant_id AND a.user_id = o.id
            RETURNING a.tenant_id, a.unassigned
        )
        INSERT INTO unassigned_counts (tenant_id, users)
        SELECT tenant_id, -COUNT(*) FROM gone WHERE unassigned GROUP BY tenant_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_assignment_insert AFTER INSERT ON scim_users
REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION user_assignment_users();
CREATE TRIGGER user_assignment_delete AFTER DELETE ON scim_users
REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION user_assignment_users();

-- A user activated or deactivated. Row by row, only when `active` changed.
CREATE FUNCTION user_assignment_active() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    member_rows INTEGER;
BEGIN
    UPDATE user_assignment SET active = NEW.active, unassigned = NEW.active AND groups = 0
    WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id
    RETURNING groups INTO member_rows;
    IF member_rows = 0 THEN
        INSERT INTO unassigned_counts (tenant_id, users)
        VALUES (NEW.tenant_id, CASE WHEN NEW.active THEN 1 ELSE -1 END);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_assignment_active AFTER UPDATE OF active ON scim_users
FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active)
EXECUTE FUNCTION user_assignment_active();

-- Memberships added or removed: each user's count moves by its rows in the statement. The users'
-- rows are locked first, in one order, so that two statements changing the same users (two
-- admins assigning overlapping selections) wait for each other instead of deadlocking.
CREATE FUNCTION user_assignment_members() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    step INTEGER := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM 1 FROM user_assignment a
    WHERE (a.tenant_id, a.user_id) IN (SELECT tenant_id, user_id FROM changed_rows)
    ORDER BY a.tenant_id, a.user_id
    FOR UPDATE;
    WITH d AS (
        SELECT tenant_id, user_id, step * COUNT(*)::INTEGER AS n FROM changed_rows GROUP BY tenant_id, user_id
    ),
    moved AS (
        UPDATE user_assignment a SET groups = a.groups + d.n, unassigned = a.active AND a.groups + d.n = 0
        FROM d WHERE a.tenant_id = d.tenant_id AND a.user_id = d.user_id
        -- RETURNING sees the new row: `unassigned` after, `groups - n` before.
        RETURNING a.tenant_id, a.unassigned::INTEGER - (a.active AND a.groups - d.n = 0)::INTEGER AS change
    )
    INSERT INTO unassigned_counts (tenant_id, users)
    SELECT tenant_id, SUM(change) FROM moved GROUP BY tenant_id HAVING SUM(change) <> 0;
    RETURN NULL;
END $$;
CREATE TRIGGER user_assignment_members_insert AFTER INSERT ON user_group_members
REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION user_assignment_members();
CREATE TRIGGER user_assignment_members_delete AFTER DELETE ON user_group_members
REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION user_assignment_members();

-- Filled after the triggers exist: creating them locked out writers of both tables until this
-- commits, so no write falls between the fill and the triggers.
INSERT INTO user_assignment (tenant_id, user_id, active, groups, unassigned)
SELECT u.tenant_id, u.id, u.active, COALESCE(m.n, 0), u.active AND m.n IS NULL
FROM scim_users u
LEFT JOIN (SELECT tenant_id, user_id, COUNT(*)::INTEGER AS n FROM user_group_members GROUP BY tenant_id, user_id) m
    ON m.tenant_id = u.tenant_id AND m.user_id = u.id;
INSERT INTO unassigned_counts (tenant_id, users)
SELECT tenant_id, COUNT(*) FROM user_assignment WHERE unassigned GROUP BY tenant_id;

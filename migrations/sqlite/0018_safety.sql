-- Provisioning safety (issue 18): the mass-deprovisioning brake, the delete policy. Added
-- columns have defaults, tables are new: the previous release keeps running on this schema.

-- The brake, per organization (on by default): when more than brake_percent of the active users
-- (at least brake_min_users) would lose access within brake_window_minutes, further
-- deprovisioning requests of the IdP are held for an admin.
ALTER TABLE tenants ADD COLUMN brake_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tenants ADD COLUMN brake_percent BIGINT NOT NULL DEFAULT 10;
ALTER TABLE tenants ADD COLUMN brake_min_users BIGINT NOT NULL DEFAULT 10;
ALTER TABLE tenants ADD COLUMN brake_window_minutes BIGINT NOT NULL DEFAULT 60;
-- What a SCIM DELETE of a user does: 'delete' (gone) or 'soft' (kept, restorable, for
-- soft_delete_days, then purged).
ALTER TABLE tenants ADD COLUMN delete_policy TEXT NOT NULL DEFAULT 'delete';
ALTER TABLE tenants ADD COLUMN soft_delete_days BIGINT NOT NULL DEFAULT 30;

-- Each time an active user lost access through the IdP (deactivated or deleted): what the
-- brake counts over its window.
CREATE TABLE deprovisions (
    tenant_id TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id   TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX deprovisions_tenant_at ON deprovisions (tenant_id, at);

-- Deprovisioning requests the brake held: the request as it came (to replay on apply), and
-- what became of it (held, applied, discarded, failed).
CREATE TABLE held_changes (
    tenant_id    TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id           TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    user_name    TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('deactivate', 'delete')),
    method       TEXT    NOT NULL,
    body         TEXT,
    credential_id TEXT,
    state        TEXT    NOT NULL CHECK (state IN ('held', 'applied', 'discarded', 'failed')),
    created_at   BIGINT  NOT NULL,
    decided_at   BIGINT,
    decided_by   TEXT,
    note         TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX held_changes_state ON held_changes (tenant_id, state, created_at);
CREATE INDEX held_changes_user ON held_changes (tenant_id, user_id);

-- Users the IdP deleted under the soft-delete policy: gone for SCIM (404, userName free), kept
-- here with their memberships until restored or purged.
CREATE TABLE deleted_users (
    tenant_id   TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    user_name   TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    user_groups TEXT    NOT NULL,
    scim_groups TEXT    NOT NULL,
    deleted_at  BIGINT  NOT NULL,
    purge_at    BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX deleted_users_purge ON deleted_users (purge_at);

-- An admin's choice: an email when the brake holds changes.
ALTER TABLE console_accounts ADD COLUMN notify_held_changes BOOLEAN NOT NULL DEFAULT TRUE;

-- A manual user an admin marked adoptable: the IdP's create of a user with this key adopts it
-- ('u:' + folded userName, 'e:' + folded email, 'x:' + externalId). Indexed in 0019.
ALTER TABLE scim_users ADD COLUMN adopt_key TEXT;

-- Seat limits (license groups): at most seat_limit users in the user group; NULL: no limit.
ALTER TABLE user_groups ADD COLUMN seat_limit BIGINT;

-- Placements the seat limit refused: the user should be in the group (a rule, the default
-- group, an admin) but no seat was free. Shown on the user's page; cleared when placed.
CREATE TABLE placement_refusals (
    tenant_id TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id   TEXT   NOT NULL,
    group_id  TEXT   NOT NULL,
    reason    TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, group_id)
);
CREATE INDEX placement_refusals_group ON placement_refusals (tenant_id, group_id);

-- The platform's own user groups (each with a role), their memberships, and who did what in
-- the activity log.

-- A user group. The role is one of a fixed set (see roster_shared::dto::GroupRole); at most one
-- group of a tenant is its default (used by just-in-time sign-up and mappings).
CREATE TABLE user_groups (
    tenant_id   TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_norm   TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX user_groups_name_key ON user_groups (tenant_id, name_norm);

-- One row per reason a user is in a user group: an admin put them there, a mapping rule did,
-- or the default group did. A user is in the group while any row exists; removing the admin's
-- row leaves a rule's row alone and the other way round.
CREATE TABLE user_group_members (
    tenant_id TEXT   NOT NULL,
    group_id  TEXT   NOT NULL,
    user_id   TEXT   NOT NULL,
    reason    TEXT   NOT NULL CHECK (reason IN ('admin', 'rule', 'default')),
    rule_id   TEXT   NOT NULL DEFAULT '',
    added_by  TEXT,
    added_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id, reason, rule_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES user_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_group_members_user ON user_group_members (tenant_id, user_id, group_id);

-- Who acted, for admin and support records (the account's email); SCIM records name their
-- credential instead.
ALTER TABLE activity ADD COLUMN actor_name TEXT;
CREATE INDEX activity_tenant_credential ON activity (tenant_id, credential_id, at);
CREATE INDEX scim_users_source ON scim_users (tenant_id, source, created_at);

-- Indexes the query planners choose right: a user's groups are found by member (SQLite took the
-- primary key and scanned a tenant's whole membership table when this index did not cover the
-- group), and keyset pages walk (created_at, id) without sorting rows of equal created_at.
DROP INDEX scim_group_members_member;
CREATE INDEX scim_group_members_member ON scim_group_members (tenant_id, member_id, group_id);
DROP INDEX scim_users_created;
CREATE INDEX scim_users_created ON scim_users (tenant_id, created_at, id);
DROP INDEX scim_groups_created;
CREATE INDEX scim_groups_created ON scim_groups (tenant_id, created_at, id);

-- What the dashboard sorts by and searches (see roster_shared::store::directory), computed in
-- Rust on every write; existing rows are filled in here.
ALTER TABLE scim_users ADD COLUMN sort_name TEXT NOT NULL DEFAULT '';
ALTER TABLE scim_users ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE scim_users SET
    sort_name = lower(coalesce(
        nullif(trim(data->>'displayName'), ''),
        nullif(trim(coalesce(data->'name'->>'givenName', '') || ' ' || coalesce(data->'name'->>'familyName', '')), ''),
        user_name)),
    search_text = lower(trim(user_name || ' ' || coalesce(data->>'displayName', '') || ' ' || coalesce(data->'name'->>'givenName', '') || ' '
        || coalesce(data->'name'->>'familyName', '') || ' ' || coalesce(primary_email_norm, '') || ' ' || coalesce(external_id, '')));
CREATE INDEX scim_users_sort_name ON scim_users (tenant_id, sort_name, id);
CREATE INDEX scim_users_search ON scim_users (tenant_id, search_text, id);

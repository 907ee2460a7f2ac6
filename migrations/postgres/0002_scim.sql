-- The SCIM API: credentials, users, groups and memberships, and the activity log.
-- Every key and index that serves a tenant starts with tenant_id.

-- Credentials an identity provider uses. Only a SHA-256 of the secret is stored (secrets are
-- 238-bit random strings, so a fast hash is enough); the prefix is shown to admins to tell
-- tokens apart.
CREATE TABLE scim_credentials (
    tenant_id    TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id           TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('bearer', 'basic', 'oauth_client')),
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX scim_credentials_secret ON scim_credentials (tenant_id, secret_hash);

-- SCIM User resources. The indexed columns hold what IdPs filter and sort on, normalized in
-- Rust (ASCII case folding) so that both backends compare alike; data holds the canonical
-- resource without id, meta and groups (those are computed).
CREATE TABLE scim_users (
    tenant_id          TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                 TEXT    NOT NULL,
    user_name          TEXT    NOT NULL,
    user_name_norm     TEXT    NOT NULL,
    external_id        TEXT,
    display_name_norm  TEXT,
    primary_email_norm TEXT,
    active             BOOLEAN NOT NULL,
    source             TEXT    NOT NULL CHECK (source IN ('scim', 'jit', 'manual')),
    data               JSONB   NOT NULL,
    version            BIGINT  NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (tenant_id, user_name_norm);
CREATE INDEX scim_users_external_id ON scim_users (tenant_id, external_id);
CREATE INDEX scim_users_display_name ON scim_users (tenant_id, display_name_norm);
CREATE INDEX scim_users_primary_email ON scim_users (tenant_id, primary_email_norm);
CREATE INDEX scim_users_created ON scim_users (tenant_id, created_at);
CREATE INDEX scim_users_updated ON scim_users (tenant_id, updated_at);

-- SCIM Group resources; members live in their own table.
CREATE TABLE scim_groups (
    tenant_id         TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                TEXT    NOT NULL,
    display_name      TEXT    NOT NULL,
    display_name_norm TEXT    NOT NULL,
    external_id       TEXT,
    data              JSONB   NOT NULL,
    version           BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX scim_groups_display_name ON scim_groups (tenant_id, display_name_norm);
CREATE INDEX scim_groups_external_id ON scim_groups (tenant_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups (tenant_id, created_at);

-- One row per membership: adding a member to a 100,000-member group writes one row.
CREATE TABLE scim_group_members (
    tenant_id   TEXT   NOT NULL,
    group_id    TEXT   NOT NULL,
    member_id   TEXT   NOT NULL,
    member_type TEXT   NOT NULL CHECK (member_type IN ('User', 'Group')),
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES scim_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_member ON scim_group_members (tenant_id, member_id);

-- The activity log: every SCIM request (and later every admin and support action).
CREATE TABLE activity (
    id            BIGSERIAL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    actor         TEXT    NOT NULL,
    credential_id TEXT,
    method        TEXT,
    path          TEXT,
    status        INTEGER,
    latency_ms    INTEGER,
    resource_type TEXT,
    resource_id   TEXT,
    summary       TEXT    NOT NULL,
    scim_type     TEXT,
    detail        TEXT,
    user_agent    TEXT
);
CREATE INDEX activity_tenant_at ON activity (tenant_id, at);
CREATE INDEX activity_tenant_resource ON activity (tenant_id, resource_id, at);

-- An organization's admins invite other admins (issue 15): an invitation link carries a random
-- token whose SHA-256 is stored; it is used once and expires. A new table only.
CREATE TABLE invitations (
    id           TEXT    PRIMARY KEY NOT NULL,
    tenant_id    TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email        TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    invited_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    accepted_at  BIGINT
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at);

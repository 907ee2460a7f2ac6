-- Just-in-time provisioning at SSO sign-in (issue 16). Added columns are nullable and the new
-- table is new: the previous release keeps running against this schema.

-- A connection's JIT settings (JSON: switch, update policy, link key, claim mapping); NULL is
-- the default (off).
ALTER TABLE sso_connections ADD COLUMN jit TEXT;

-- The role of a user in no user group (admin, member, viewer); NULL: no access.
ALTER TABLE tenants ADD COLUMN default_role TEXT;

-- When the IdP's provisioning deleted the user an identity signed in as: that identity is
-- refused until the IdP provisions the person again (it is never re-created just in time).
ALTER TABLE sso_identities ADD COLUMN deprovisioned_at BIGINT;

-- The group names a just-in-time user's IdP sent in its groups claim at their last sign-in;
-- the IdP group rules match them against SCIM groups by name.
CREATE TABLE sso_claim_groups (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    name_norm  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, name_norm),
    FOREIGN KEY (tenant_id, user_id) REFERENCES scim_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_claim_groups_name ON sso_claim_groups (tenant_id, name_norm);

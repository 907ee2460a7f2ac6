-- Single sign-on (issue 15): an organization's SAML 2.0 and OpenID Connect connections, the
-- sign-in flows a browser started, the assertions already used (replay), the links between an
-- IdP identity and a user, and the sign-in log. New tables only: the previous release keeps
-- running against this schema.

-- A connection. `idp_key` is the IdP's SAML entity ID or OIDC issuer: one organization each.
-- `config` is JSON (SAML: SSO URL and signing certificates; OIDC: client id, scopes and the
-- client secret sealed with the server key).
CREATE TABLE sso_connections (
    id                   TEXT    PRIMARY KEY NOT NULL,
    tenant_id            TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    protocol             TEXT    NOT NULL CHECK (protocol IN ('saml', 'oidc')),
    name                 TEXT    NOT NULL,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    allow_idp_initiated  BOOLEAN NOT NULL DEFAULT FALSE,
    idp_key              TEXT    NOT NULL,
    config               TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL
);
CREATE UNIQUE INDEX sso_connections_idp_key ON sso_connections (idp_key);
CREATE INDEX sso_connections_tenant ON sso_connections (tenant_id, created_at);

-- A sign-in this instance sent a browser to the IdP for: the SAML request id or the OIDC state.
-- `browser_hash` is SHA-256 of a random value kept in that browser's cookie, so a response is
-- only taken from the browser that started the flow. Used once.
CREATE TABLE sso_flows (
    id              TEXT    PRIMARY KEY NOT NULL,
    tenant_id       TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connection_id   TEXT    NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    browser_hash    TEXT    NOT NULL,
    nonce           TEXT,
    pkce_verifier   TEXT,
    test_by         TEXT,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);
CREATE INDEX sso_flows_expires ON sso_flows (expires_at);

-- Assertion ids already accepted, per connection, until they expire: each is accepted once.
CREATE TABLE sso_seen_assertions (
    connection_id   TEXT    NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    assertion_id    TEXT    NOT NULL,
    expires_at      BIGINT  NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX sso_seen_assertions_expires ON sso_seen_assertions (expires_at);

-- Which user an IdP identity (connection, subject) signs in as.
CREATE TABLE sso_identities (
    tenant_id       TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connection_id   TEXT    NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    subject         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    last_sign_in_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, subject)
);
CREATE INDEX sso_identities_user ON sso_identities (tenant_id, user_id);

-- The sign-in log: every attempt, its outcome and, for a refusal, the reason.
CREATE TABLE sso_sign_ins (
    tenant_id       TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    at              BIGINT  NOT NULL,
    connection_id   TEXT,
    connection_name TEXT    NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('signed_in', 'refused')),
    reason          TEXT,
    message         TEXT    NOT NULL,
    subject         TEXT,
    email           TEXT,
    user_id         TEXT,
    test_by         TEXT,
    client_ip       TEXT,
    detail          TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sso_sign_ins_at ON sso_sign_ins (tenant_id, at DESC);

-- Foundation: tenants, console accounts, sign-in attempts, dashboard sessions.
-- Timestamps are Unix epoch milliseconds (BIGINT) on both backends so one SQL text serves both.

CREATE TABLE tenants (
    id              TEXT    PRIMARY KEY NOT NULL,  -- opaque random key, also used in the SCIM URL
    name            TEXT    NOT NULL,
    scim_enabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

-- People who sign in to the dashboard: organization admins (one tenant) and support staff
-- (platform-wide, tenant_id NULL).
CREATE TABLE console_accounts (
    id               TEXT    PRIMARY KEY NOT NULL,
    tenant_id        TEXT    REFERENCES tenants(id) ON DELETE CASCADE,
    role             TEXT    NOT NULL CHECK (role IN ('org_admin', 'support')),
    email            TEXT    NOT NULL,
    email_normalized TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    disabled         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT  NOT NULL,
    last_sign_in_at  BIGINT,
    CONSTRAINT console_accounts_role_tenant CHECK ((role = 'org_admin') = (tenant_id IS NOT NULL))
);
CREATE UNIQUE INDEX console_accounts_email_key ON console_accounts (email_normalized);
CREATE INDEX console_accounts_tenant ON console_accounts (tenant_id, created_at);

-- Every sign-in attempt, successful or not: the throttle reads it, support reads it.
CREATE TABLE sign_in_attempts (
    id               BIGSERIAL PRIMARY KEY,
    email_normalized TEXT    NOT NULL,
    client_ip        TEXT    NOT NULL,
    account_id       TEXT,
    tenant_id        TEXT,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('success', 'bad_credentials', 'throttled', 'disabled')),
    at               BIGINT  NOT NULL
);
CREATE INDEX sign_in_attempts_email ON sign_in_attempts (email_normalized, at);
CREATE INDEX sign_in_attempts_ip ON sign_in_attempts (client_ip, at);
CREATE INDEX sign_in_attempts_tenant ON sign_in_attempts (tenant_id, at);

-- Dashboard sessions, in the layout tower-sessions-sqlx-store's PostgresStore expects.
CREATE TABLE console_sessions (
    id          TEXT        PRIMARY KEY NOT NULL,
    data        BYTEA       NOT NULL,
    expiry_date TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expiry_date);

-- Events, API keys and webhooks (issue 19). New tables only: the previous release keeps running
-- on this schema (it writes no events; nothing reads them but this release).

-- The last sequence number given to each organization's events. A write takes it (and so its
-- row lock, on PostgreSQL) just before it commits: one tenant's events are numbered in the
-- order their transactions commit, without gaps, so a reader that has seen seq N never misses
-- a smaller one committed later.
CREATE TABLE event_sequences (
    tenant_id TEXT   PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    last_seq  BIGINT NOT NULL
);

-- The outbox: every provisioning change's events, written in the change's transaction.
CREATE TABLE events (
    tenant_id TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    id        TEXT   NOT NULL,
    type      TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    data      TEXT   NOT NULL,
    cause     TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX events_id ON events (tenant_id, id);
CREATE INDEX events_at ON events (at);

-- Keys the platform's applications read the events API with: read-only, one organization,
-- the secret stored hashed (SHA-256 of a random 32-byte secret; shown once).
CREATE TABLE api_keys (
    id           TEXT   PRIMARY KEY NOT NULL,
    tenant_id    TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    prefix       TEXT   NOT NULL,
    secret_hash  TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    created_by   TEXT   NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

-- Where an organization's events are pushed. `delivered_seq` is the last seq delivered (or skipped as
-- not wanted); one instance at a time holds an endpoint's lease and delivers in order.
CREATE TABLE webhook_endpoints (
    tenant_id     TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    types         TEXT    NOT NULL DEFAULT '',
    secret_sealed TEXT    NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    delivered_seq BIGINT  NOT NULL,
    failing       BOOLEAN NOT NULL DEFAULT FALSE,
    failing_since BIGINT,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_until   BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_ready ON webhook_endpoints (enabled, failing, next_attempt_at);

-- Each delivery attempt: which event (or a test, or a resend), how it went.
CREATE TABLE webhook_deliveries (
    tenant_id     TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    endpoint_id   TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    event_seq     BIGINT,
    event_type    TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('event', 'resend', 'test')),
    attempt       BIGINT  NOT NULL,
    at            BIGINT  NOT NULL,
    ok            BOOLEAN NOT NULL,
    status_code   BIGINT,
    latency_ms    BIGINT  NOT NULL,
    response      TEXT,
    error         TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, at);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);

-- When a credential's `credential.expiring` event was emitted (once; the email notice has its
-- own mark).
ALTER TABLE scim_credentials ADD COLUMN expiry_event_at BIGINT;

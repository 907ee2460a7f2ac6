-- Events of committed writes not yet numbered. Used on PostgreSQL only (see
-- shared/src/store/events.rs): SQLite's one writer numbers events inside each write. Kept here
-- so that both schemas have the same tables.
CREATE TABLE pending_events (
    pending_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    at         BIGINT  NOT NULL,
    data       TEXT    NOT NULL,
    cause      TEXT    NOT NULL
);
CREATE INDEX pending_events_tenant ON pending_events (tenant_id, pending_id);

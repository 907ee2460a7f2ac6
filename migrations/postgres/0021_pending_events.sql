-- Events of committed writes not yet numbered (PostgreSQL only; see shared/src/store/events.rs).
-- A write inserts its events here instead of taking its organization's `event_sequences` row:
-- that row's lock, held until COMMIT, made one organization's writes wait for each other's
-- commit (fsync) one by one. A sequencer numbers them soon after, in an order consistent with
-- commits. New table only: the previous release keeps running on this schema.
CREATE TABLE pending_events (
    pending_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  TEXT   NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id         TEXT   NOT NULL,
    type       TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    data       TEXT   NOT NULL,
    cause      TEXT   NOT NULL
);
CREATE INDEX pending_events_tenant ON pending_events (tenant_id, pending_id);

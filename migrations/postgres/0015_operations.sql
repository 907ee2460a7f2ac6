-- Operations (issue 17): durable background jobs and disabling an organization. The table is
-- new and the column nullable: the previous release keeps running against this schema.

-- Background work as rows (service/jobs.rs): any instance claims a ready job with a lease,
-- renews the lease as it goes, and records its progress; a job whose lease ran out (its
-- instance died) is claimed again and resumes from its progress. `unique_key` makes a job
-- enqueued by every instance exist once (the hourly maintenance).
CREATE TABLE jobs (
    id          TEXT    PRIMARY KEY NOT NULL,
    tenant_id   TEXT    REFERENCES tenants(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    args        TEXT    NOT NULL DEFAULT '{}',
    unique_key  TEXT    UNIQUE,
    state       TEXT    NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_at      BIGINT  NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    progress    TEXT,
    error       TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_tenant ON jobs (tenant_id, created_at);

-- An operator disabled the organization (`roster tenant disable`): its SCIM API, sign-ins and
-- dashboard are refused until it is enabled again; nothing of it is deleted.
ALTER TABLE tenants ADD COLUMN disabled_at BIGINT;

-- Whole-tenant evaluations left unfinished by a release without durable jobs: the latest of
-- each tenant is resumed as a job (the job's id is the run's); older ones were superseded.
INSERT INTO jobs (id, tenant_id, kind, args, state, attempts, run_at, created_at, updated_at)
SELECT r.id, r.tenant_id, 'place_all',
       '{"run":"' || r.id || '","started_at":' || r.started_at || '}',
       'queued', 0, r.started_at, r.started_at, r.started_at
FROM mapping_runs r
WHERE r.finished_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM mapping_runs n WHERE n.tenant_id = r.tenant_id AND n.started_at > r.started_at);
UPDATE mapping_runs SET finished_at = started_at, error = 'stopped: a newer evaluation started after a later change'
WHERE finished_at IS NULL
  AND EXISTS (SELECT 1 FROM mapping_runs n WHERE n.tenant_id = mapping_runs.tenant_id AND n.started_at > mapping_runs.started_at);

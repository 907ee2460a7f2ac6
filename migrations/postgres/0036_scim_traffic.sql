-- Each organization's SCIM traffic minute by minute: the 24-hour requests and failures that the
-- Overview, the SCIM page and the support console show, summed over at most 1,440 rows (plus the
-- activity log's records of the window's first, partial minute) instead of counted record by
-- record (linear in the day's requests). The activity writer adds its batch's SCIM requests to
-- their minutes in the batch's transaction (`store::activity`), in key order. Not a trigger: a
-- statement trigger with its transition table cost every insert into the activity log ~50 µs
-- (a held deprovisioning's record among them: single-row inserts 4,127–4,481 → 3,457–3,528/s in
-- pgbench), a row trigger halved the activity writer's batches. Not a failure: a GET answered
-- 404 (IdPs look up users deleted meanwhile).
--
-- During a rolling upgrade, the SCIM requests that instances of the previous release record
-- are in the activity log but not in these minutes (so not in the 24-hour figures, for a day).
CREATE TABLE scim_traffic (
    tenant_id TEXT   NOT NULL,
    minute_at BIGINT NOT NULL,
    requests  BIGINT NOT NULL,
    errors    BIGINT NOT NULL,
    last_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, minute_at)
);
-- The records written before.
INSERT INTO scim_traffic (tenant_id, minute_at, requests, errors, last_at)
SELECT tenant_id, at - at % 60000, COUNT(*),
       COUNT(*) FILTER (WHERE status >= 400 AND NOT (method = 'GET' AND status = 404)), MAX(at)
FROM activity WHERE actor = 'scim' GROUP BY 1, 2;

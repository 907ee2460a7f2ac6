-- Each organization's SCIM traffic minute by minute: the 24-hour requests and failures that the
-- Overview, the SCIM page and the support console show, summed over at most 1,440 rows (plus the
-- activity log's records of the window's first, partial minute) instead of counted record by
-- record (linear in the day's requests: ~50 ms per 100,000). The activity writer adds its
-- batch's SCIM requests to their minutes in the batch's transaction (`store::activity`); a
-- trigger would do it record by record. Not a failure: a GET answered 404 (IdPs look up users
-- deleted meanwhile). A previous release running on the same file during an upgrade records its
-- SCIM requests in the activity log but not here (so not in the 24-hour figures, for a day).
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
       SUM(CASE WHEN status >= 400 AND NOT (method = 'GET' AND status = 404) THEN 1 ELSE 0 END), MAX(at)
FROM activity WHERE actor = 'scim' GROUP BY tenant_id, at - at % 60000;

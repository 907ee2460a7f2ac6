-- The activity log's records by resource (a user's or group's history: the user page's timeline,
-- the Activity page's and the export's resource filter), kept in a table of their own that is
-- written in bulk, instead of an index written by every record.
--
-- The index on (tenant_id, resource_id, at) took each record's entry on a random page (the
-- resource a request named: any user of the tenant), so every commit of the activity writer
-- wrote about one page of it per record to the WAL: under 16 connections of PATCHes a quarter
-- of the WAL's frames, and without it those PATCHes ran 10-18% faster. Now a record's key is
-- appended to `activity_by_resource_pending` (by its id: the end of the table, a page for
-- dozens of records), and about once a second the activity writer moves what is pending into
-- `activity_by_resource` in key order, a couple of thousand at a time, each resource's records
-- together: many entries for each page written (`Store::move_activity_by_resource` in
-- roster_shared::store::activity). A resource's records are those of both tables; a record is
-- in exactly one of them (moved in one transaction). Any writer of `activity` (a previous
-- release, a CLI command) goes through the triggers like this one; a previous release, rolled
-- back to, leaves its records pending (it never reads them), and this one moves them when it
-- starts again. PostgreSQL keeps its index (0002).
CREATE TABLE activity_by_resource (
    tenant_id   TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    id          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, resource_id, at, id)
) WITHOUT ROWID;

CREATE TABLE activity_by_resource_pending (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);

INSERT INTO activity_by_resource (tenant_id, resource_id, at, id)
    SELECT tenant_id, resource_id, at, id FROM activity WHERE resource_id IS NOT NULL
    ORDER BY tenant_id, resource_id, at, id;

-- Which of the two a record goes to is only a question of cost: a create's record (POST) names
-- a resource made just now, whose id (time-ordered, roster_shared::ids::time_ordered) puts its
-- entry at the end of the tenant's, where the entries before it went: written at once.
CREATE TRIGGER activity_by_resource_written AFTER INSERT ON activity
WHEN new.resource_id IS NOT NULL AND new.method IS NOT 'POST' BEGIN
    INSERT INTO activity_by_resource_pending (id, tenant_id, resource_id, at)
    VALUES (new.id, new.tenant_id, new.resource_id, new.at);
END;

CREATE TRIGGER activity_by_resource_created AFTER INSERT ON activity
WHEN new.resource_id IS NOT NULL AND new.method IS 'POST' BEGIN
    INSERT INTO activity_by_resource (tenant_id, resource_id, at, id)
    VALUES (new.tenant_id, new.resource_id, new.at, new.id);
END;

CREATE TRIGGER activity_by_resource_deleted AFTER DELETE ON activity
WHEN old.resource_id IS NOT NULL BEGIN
    DELETE FROM activity_by_resource
    WHERE tenant_id = old.tenant_id AND resource_id = old.resource_id AND at = old.at AND id = old.id;
    DELETE FROM activity_by_resource_pending WHERE id = old.id;
END;

DROP INDEX activity_tenant_resource;

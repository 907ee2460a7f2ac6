-- A whole-tenant evaluation counts the users whose user groups it changed (issue 13): the
-- Mappings page says "3 users changed groups", not only how many were looked at. Only adds a
-- column with a default, so the previous release keeps running against this schema.
ALTER TABLE mapping_runs ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;

-- Rotation marks the credential it replaces (issue 13): the dashboard tells the old one from the
-- new and says to revoke it once the IdP uses the new one. Only adds a nullable column, so the
-- previous release keeps running against this schema.
ALTER TABLE scim_credentials ADD COLUMN replaced_by TEXT;

-- An organization's email domains (issue 15): people typing an address at a verified domain on
-- the sign-in page are sent to the organization's SSO. A domain is verified by a DNS TXT record
-- (`_roster-verification.{domain}` = `roster-verification={token}`), and by one organization
-- only. A new table: the previous release keeps running against this schema.
CREATE TABLE tenant_domains (
    tenant_id    TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    domain       TEXT    NOT NULL,
    token        TEXT    NOT NULL,
    verified_at  BIGINT,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, domain)
);
CREATE UNIQUE INDEX tenant_domains_verified ON tenant_domains (domain) WHERE verified_at IS NOT NULL;

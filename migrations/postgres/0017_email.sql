-- Email (issue 17): which notices each admin gets, what was already sent, and password reset
-- links. Added columns have defaults or are nullable, the table is new: the previous release
-- keeps running against this schema.

-- An admin's choice of notices (the dashboard's Team page): SCIM credentials about to expire,
-- and an identity provider whose requests mostly fail.
ALTER TABLE console_accounts ADD COLUMN notify_credentials BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE console_accounts ADD COLUMN notify_idp_failures BOOLEAN NOT NULL DEFAULT TRUE;

-- When the "expires in 14 days" notice of a credential went out (once per credential).
ALTER TABLE scim_credentials ADD COLUMN expiry_notified_at BIGINT;

-- When the last "your IdP's requests are failing" notice of the organization went out (at most
-- one a day).
ALTER TABLE tenants ADD COLUMN idp_failure_notified_at BIGINT;

-- When the account's password last changed (a reset link, the operator, the admin): sessions
-- signed in before then no longer sign anyone in.
ALTER TABLE console_accounts ADD COLUMN password_changed_at BIGINT;

-- "Forgot password": a link with a random token whose SHA-256 is stored; it works once, for an
-- hour.
CREATE TABLE password_resets (
    id          TEXT    PRIMARY KEY NOT NULL,
    account_id  TEXT    NOT NULL REFERENCES console_accounts(id) ON DELETE CASCADE,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_account ON password_resets (account_id, created_at);

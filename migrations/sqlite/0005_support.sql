-- The support console: the request body of each SCIM request (secrets removed, capped) for the
-- activity record's detail page. Support staff accounts already exist (console_accounts, role
-- 'support'); their views and refused writes are activity records with actor 'support'.
ALTER TABLE activity ADD COLUMN request_body TEXT;

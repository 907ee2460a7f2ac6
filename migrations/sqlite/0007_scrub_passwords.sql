-- No password is ever stored (issue 12). Earlier releases kept two shapes of it:
-- * `password` set by a SCIM PATCH (Okta's password sync), in the user's JSON document;
-- * an object keyed by the core User schema's URN, kept as if it were an unknown extension
--   (its members were never applied to the user, so nothing else of value is lost).
UPDATE scim_users
SET data = json_remove(data, '$.password', '$."urn:ietf:params:scim:schemas:core:2.0:User"')
WHERE json_type(data, '$.password') IS NOT NULL
   OR json_type(data, '$."urn:ietf:params:scim:schemas:core:2.0:User"') IS NOT NULL;

-- Request bodies recorded before the redaction read every shape a SCIM parser accepts may hold
-- a password (a PATCH with "Path": "password", a trimmed or URN-qualified path). Those that
-- mention one lose the body; the rest of their record stays.
UPDATE activity
SET request_body = '(removed: recorded before secrets were fully redacted; it may have held a password)'
WHERE request_body IS NOT NULL AND lower(request_body) LIKE '%password%';

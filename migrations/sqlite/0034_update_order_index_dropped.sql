-- The index 0033 replaces.
DROP INDEX IF EXISTS scim_users_updated;

-- The row's index on `updated_at`: `user_updated` (0033) keeps the order instead. Outside a
-- transaction; a single statement.
DROP INDEX CONCURRENTLY IF EXISTS scim_users_updated;

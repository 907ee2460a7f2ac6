-- The B-tree index the users table's search scanned before 0023: the trigram index replaces it
-- (outside a transaction; a single statement).
DROP INDEX CONCURRENTLY IF EXISTS scim_users_search;

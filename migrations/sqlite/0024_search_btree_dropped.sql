-- The B-tree index the users table's search scanned before 0022: the trigram index replaces it.
DROP INDEX IF EXISTS scim_users_search;

-- On PostgreSQL this builds the trigram index CONCURRENTLY; SQLite built its index in 0022.
SELECT 1;

-- SQLite's users' search index is written in bulk from 0039 on; PostgreSQL's pg_trgm index
-- (0022) is written by each write, as before.
SELECT 1;

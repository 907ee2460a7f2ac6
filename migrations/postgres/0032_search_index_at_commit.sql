-- SQLite's search index is written at each group commit from 0032 on; PostgreSQL's trigram
-- index (0023) is maintained by PostgreSQL itself.
SELECT 1;

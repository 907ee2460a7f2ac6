-- On PostgreSQL this builds the second index of 0026 CONCURRENTLY; SQLite built both in 0026.
SELECT 1;

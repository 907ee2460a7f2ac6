-- SQLite keeps the activity records by resource in a table written in bulk from 0038 on;
-- PostgreSQL keeps its index on (tenant_id, resource_id, at) (0002).
SELECT 1;

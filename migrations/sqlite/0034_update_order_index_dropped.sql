-- See 0033: SQLite keeps its index on (tenant_id, updated_at).
SELECT 1;

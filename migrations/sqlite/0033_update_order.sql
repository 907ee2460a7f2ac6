-- PostgreSQL keeps the users' order of last change in a table of its own, so that its updates
-- of a user's row are HOT (see migrations/postgres/0033). SQLite has no HOT updates; the row's
-- index on (tenant_id, updated_at) stays.
SELECT 1;

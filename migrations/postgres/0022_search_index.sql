-- The users table's substring search through a trigram index (see
-- roster_shared::store::directory): pg_trgm ships with PostgreSQL and is a trusted extension, so
-- a role that may CREATE in the database may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

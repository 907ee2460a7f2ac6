-- A held change asked for again (the IdP resends a deactivation while the brake holds it) keeps
-- its id and the time it was first held, and takes the new request with the time it came in
-- `last_held_at` (NULL: never asked again, or written by a release before this one): the update
-- then changes no indexed column, and rewrites no index entry.
ALTER TABLE held_changes ADD COLUMN last_held_at INTEGER;

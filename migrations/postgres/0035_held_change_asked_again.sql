-- A held change asked for again (the IdP resends a deactivation while the brake holds it) keeps
-- its id and the time it was first held, and takes the new request with the time it came in
-- `last_held_at` (NULL: never asked again, or written by a release before this one). Nothing
-- indexed then changes, so the update is HOT; a fill factor leaves the page room for it.
ALTER TABLE held_changes ADD COLUMN last_held_at BIGINT;
ALTER TABLE held_changes SET (fillfactor = 80);

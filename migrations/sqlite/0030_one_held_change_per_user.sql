-- A user has one held change at most (the brake replaces a user's held change with the latest
-- request). The brake's lock made it so; held writes no longer take that lock, so a unique
-- index (next migration) does. Older duplicates, if any, go first.
DELETE FROM held_changes
WHERE state = 'held'
  AND EXISTS (
    SELECT 1 FROM held_changes newer
    WHERE newer.tenant_id = held_changes.tenant_id AND newer.user_id = held_changes.user_id
      AND newer.state = 'held' AND (newer.created_at, newer.id) > (held_changes.created_at, held_changes.id)
  );

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS held_changes_one_per_user ON held_changes (tenant_id, user_id) WHERE state = 'held';

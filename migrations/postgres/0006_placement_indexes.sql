-- Indexes for placing users inside SCIM writes (mapping rules).
-- A user's rule-made memberships: the index on (tenant_id, user_id, group_id) did not hold the
-- reason and rule, so SQLite preferred scanning the primary key by tenant (every membership of
-- the tenant, on every SCIM write of a tenant with rules). Covering, it is taken.
DROP INDEX user_group_members_user;
CREATE INDEX user_group_members_user ON user_group_members (tenant_id, user_id, group_id, reason, rule_id);
-- Group-in-group edges (for nested IdP groups): only those rows, not every membership.
CREATE INDEX scim_group_members_nested ON scim_group_members (tenant_id, member_id, group_id) WHERE member_type = 'Group';

//! Mapping rules and the memberships they make.

use sqlx::Row;

use super::{placeholders, with_pool, TenantStore};
pub(crate) use crate::service::mappings::Placement;

/// Every group-in-group edge of a tenant: (member group, parent group).
pub(crate) const GROUP_EDGES_SQL: &str =
    "SELECT member_id, group_id FROM scim_group_members WHERE tenant_id = $1 AND member_type = 'Group'";

/// The SCIM groups `n` users ($2…) are direct members of: (user, group).
pub(crate) fn direct_groups_sql(n: usize) -> String {
    format!(
        "SELECT member_id, group_id FROM scim_group_members WHERE tenant_id = $1 AND member_id IN ({})",
        placeholders(2, n)
    )
}

/// The rule- and default-made memberships of `n` users ($2…): (user, group, reason, rule).
pub(crate) fn rule_memberships_sql(n: usize) -> String {
    format!(
        "SELECT user_id, group_id, reason, rule_id FROM user_group_members \
         WHERE tenant_id = $1 AND reason IN ('rule', 'default') AND user_id IN ({})",
        placeholders(2, n)
    )
}

/// Runs a [`Placement`]'s statements on the open transaction `$tx` (of either backend): the
/// same SQL wherever memberships move, whether on their own or inside a user's write.
macro_rules! apply_placement {
    ($tx:ident, $tenant:expr, $placement:expr, $now:expr) => {
        for (user, group, reason, rule) in &$placement.remove {
            sqlx::query(
                "DELETE FROM user_group_members WHERE tenant_id = $1 AND user_id = $2 AND group_id = $3 AND reason = $4 AND rule_id = $5",
            )
            .bind($tenant)
            .bind(user)
            .bind(group)
            .bind(reason)
            .bind(rule)
            .execute(&mut *$tx)
            .await?;
        }
        for (user, group, reason, rule) in &$placement.add {
            sqlx::query(
                "INSERT INTO user_group_members (tenant_id, group_id, user_id, reason, rule_id, added_by, added_at) \
                 SELECT $1, g.id, u.id, $4, $5, NULL, $6 FROM scim_users u JOIN user_groups g ON g.tenant_id = u.tenant_id AND g.id = $3 \
                 WHERE u.tenant_id = $1 AND u.id = $2 ON CONFLICT DO NOTHING",
            )
            .bind($tenant)
            .bind(user)
            .bind(group)
            .bind(reason)
            .bind(rule)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    };
}
use crate::error::DomainResult;
pub(crate) use apply_placement;

/// What a group write's transaction reads back for the mapping rules: the users the write
/// touched, as they are inside the transaction (after the write).
#[derive(Clone, Debug, Default)]
pub struct Touched {
    /// (user id, resource JSON).
    pub users: Vec<(String, String)>,
    /// Their direct SCIM groups: (user, group).
    pub direct: Vec<(String, String)>,
    /// Every group-in-group edge of the tenant: (member group, parent group).
    pub edges: Vec<(String, String)>,
    /// Their current rule- and default-made memberships.
    pub current: Vec<RuleMembership>,
}

/// Plans the placement of touched users (the mapping rules, compiled once before the write).
pub type Planner<'a> = &'a (dyn Fn(&Touched) -> Placement + Send + Sync);

/// At the start of a transaction that will place users (`$places`): on PostgreSQL, waits for
/// the tenant's placement lock (`pg_advisory_xact_lock`, released at commit or rollback).
///
/// A placement reads the IdP group memberships and the rule memberships of the users it
/// touches, then writes the difference. Under PostgreSQL's READ COMMITTED two group writes of
/// one tenant ran side by side, each reading the other's group as it was before the other
/// committed: a user taken out of two groups at once kept the access both granted (1 round in
/// 500 of the concurrency test). With the lock, one tenant's placing writes run one after the
/// other, and each reads what the previous one committed. Taken before the write itself, it is
/// the first lock such a transaction holds, so two of them cannot deadlock on it. Writes with
/// nothing to place (no rules, no default group) do not take it. SQLite needs none: it has one
/// writer at a time, and a transaction reads after its write has the database to itself.
macro_rules! lock_placement {
    ($tx:ident, $store:expr, $tenant:expr, $places:expr) => {
        if $places && matches!($store.pool, $crate::store::Pool::Postgres(_)) {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("roster:placement:{}", $tenant))
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use lock_placement;

/// Inside a group write's open transaction `$tx`, after the write: re-places the users it
/// touched. `$touched` are the member ids added or removed (users, and groups whose users
/// gain or lose the group through nesting); their users are read back inside the transaction,
/// planned by `$planner` (an `Option<Planner>`) and placed, so the write and the placement
/// commit together.
macro_rules! place_touched {
    ($tx:ident, $tenant:expr, $data_out:expr, $planner:expr, $touched:expr, $now:expr) => {
        if let Some(planner) = $planner {
            let tenant: &str = $tenant;
            let touched: &[String] = $touched;
            let edges: Vec<(String, String)> = sqlx::query_as($crate::store::mappings::GROUP_EDGES_SQL)
            .bind(tenant)
            .fetch_all(&mut *$tx)
            .await?;
            // The touched groups and every group nested in them.
            let mut children: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
            for (child, parent) in &edges {
                children.entry(parent.as_str()).or_default().push(child.as_str());
            }
            let mut groups: Vec<String> = Vec::new();
            let mut todo: Vec<&str> = touched.iter().map(String::as_str).collect();
            while let Some(g) = todo.pop() {
                if groups.iter().any(|x| x == g) {
                    continue;
                }
                groups.push(g.to_string());
                if let Some(cs) = children.get(g) {
                    todo.extend(cs.iter().copied());
                }
            }
            // Their users, and the touched ids themselves (those that are users).
            let mut users: std::collections::BTreeSet<String> = touched.iter().cloned().collect();
            for chunk in groups.chunks(500) {
                let sql = format!(
                    "SELECT member_id FROM scim_group_members WHERE tenant_id = $1 AND member_type = 'User' AND group_id IN ({})",
                    $crate::store::placeholders(2, chunk.len())
                );
                let mut q = sqlx::query_scalar::<_, String>(&sql).bind(tenant);
                for g in chunk {
                    q = q.bind(g);
                }
                users.extend(q.fetch_all(&mut *$tx).await?);
            }
            let users: Vec<String> = users.into_iter().collect();
            let mut read = $crate::store::Touched { edges, ..Default::default() };
            for chunk in users.chunks(500) {
                let list = $crate::store::placeholders(2, chunk.len());
                let sql = format!("SELECT t.id, {} FROM scim_users t WHERE t.tenant_id = $1 AND t.id IN ({list})", $data_out);
                let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                read.users.extend(q.fetch_all(&mut *$tx).await?);
                let sql = $crate::store::mappings::direct_groups_sql(chunk.len());
                let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                read.direct.extend(q.fetch_all(&mut *$tx).await?);
                let sql = $crate::store::mappings::rule_memberships_sql(chunk.len());
                let mut q = sqlx::query_as::<_, (String, String, String, String)>(&sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                read.current.extend(q.fetch_all(&mut *$tx).await?);
            }
            let placement = planner(&read);
            $crate::store::mappings::apply_placement!($tx, tenant, placement, $now);
        }
    };
}
pub(crate) use place_touched;

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRecord {
    /// Its id.
    pub id: String,
    /// Its place in the tenant's order.
    pub position: i64,
    /// `idp_group` or `attribute`.
    pub kind: String,
    /// The SCIM group (idp_group rules).
    pub idp_group_id: Option<String>,
    /// The SCIM filter (attribute rules).
    pub filter: Option<String>,
    /// Where it places users.
    pub user_group_id: String,
    /// Whether it is on.
    pub enabled: bool,
}

/// A membership the rules made: (user, group, reason `rule`/`default`, rule id or '').
pub type RuleMembership = (String, String, String, String);

impl TenantStore<'_> {
    /// Every rule, in order.
    pub async fn mapping_rules(&self) -> DomainResult<Vec<RuleRecord>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT id, position, kind, idp_group_id, filter, user_group_id, enabled FROM mapping_rules \
                 WHERE tenant_id = $1 ORDER BY position, id",
            )
            .bind(self.id.as_str())
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(RuleRecord {
                        id: r.try_get("id")?,
                        position: r.try_get("position")?,
                        kind: r.try_get("kind")?,
                        idp_group_id: r.try_get("idp_group_id")?,
                        filter: r.try_get("filter")?,
                        user_group_id: r.try_get("user_group_id")?,
                        enabled: r.try_get("enabled")?,
                    })
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }

    /// Adds a rule at the end of the order.
    pub async fn insert_mapping_rule(&self, r: &RuleRecord, now_ms: i64) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query(
                "INSERT INTO mapping_rules (tenant_id, id, position, kind, idp_group_id, filter, user_group_id, enabled, created_at, updated_at) \
                 VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM mapping_rules WHERE tenant_id = $1), $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(self.id.as_str())
            .bind(&r.id)
            .bind(&r.kind)
            .bind(&r.idp_group_id)
            .bind(&r.filter)
            .bind(&r.user_group_id)
            .bind(r.enabled)
            .bind(now_ms)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Changes a rule; returns whether it exists.
    pub async fn update_mapping_rule(&self, r: &RuleRecord, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query(
                "UPDATE mapping_rules SET kind = $1, idp_group_id = $2, filter = $3, user_group_id = $4, enabled = $5, updated_at = $6 \
                 WHERE tenant_id = $7 AND id = $8",
            )
            .bind(&r.kind)
            .bind(&r.idp_group_id)
            .bind(&r.filter)
            .bind(&r.user_group_id)
            .bind(r.enabled)
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(&r.id)
            .execute(p)
            .await
            .map(|x| x.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Deletes a rule and the memberships it made; returns whether it existed.
    pub async fn delete_mapping_rule(&self, id: &str) -> DomainResult<bool> {
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM user_group_members WHERE tenant_id = $1 AND reason = 'rule' AND rule_id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM mapping_rules WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            DomainResult::Ok(n > 0)
        })
    }

    /// Puts the rules in this order (ids not listed keep their relative order after them).
    pub async fn reorder_mapping_rules(&self, ids: &[String], now_ms: i64) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            for (i, id) in ids.iter().enumerate() {
                sqlx::query("UPDATE mapping_rules SET position = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
                    .bind(i as i64 + 1)
                    .bind(now_ms)
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            DomainResult::Ok(())
        })
    }

    /// The tenant's default user group.
    pub async fn default_user_group(&self) -> DomainResult<Option<String>> {
        self.read_default_user_group().await
    }

    /// The rules and the default user group, as placing users needs them on every SCIM write:
    /// from this instance's cache when fresh (see `cache::TenantCache`).
    pub async fn placement_settings(&self) -> DomainResult<(Vec<RuleRecord>, Option<String>)> {
        if let Some(settings) = self.store.cache.placement(self.id.as_str()) {
            return Ok(settings);
        }
        let settings = (self.mapping_rules().await?, self.read_default_user_group().await?);
        self.store.cache.put_placement(self.id.as_str(), &settings);
        Ok(settings)
    }

    async fn read_default_user_group(&self) -> DomainResult<Option<String>> {
        let id = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, String>("SELECT id FROM user_groups WHERE tenant_id = $1 AND is_default LIMIT 1")
                .bind(self.id.as_str())
                .fetch_optional(p)
                .await
        })?;
        Ok(id)
    }

    /// The rule- and default-made memberships of these users.
    pub async fn rule_memberships(&self, user_ids: &[String]) -> DomainResult<Vec<RuleMembership>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(500) {
            let sql = rule_memberships_sql(chunk.len());
            let rows = with_pool!(self.store, |p| {
                let mut q = sqlx::query(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok((r.try_get("user_id")?, r.try_get("group_id")?, r.try_get("reason")?, r.try_get("rule_id")?))
                    })
                    .collect::<DomainResult<Vec<RuleMembership>>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Adds and removes rule-made memberships in one transaction (users of other tenants and
    /// groups that no longer exist are skipped).
    pub async fn apply_rule_memberships(&self, placement: &Placement, now_ms: i64) -> DomainResult<()> {
        if placement.is_empty() {
            return Ok(());
        }
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            apply_placement!(tx, self.id.as_str(), placement, now_ms);
            tx.commit().await?;
            DomainResult::Ok(())
        })
    }

    /// A page of the tenant's user ids, after `after` in id order (for tenant-wide evaluation).
    pub async fn user_ids_after(&self, after: &str, limit: i64) -> DomainResult<Vec<String>> {
        let ids = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, String>(
                "SELECT id FROM scim_users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(self.id.as_str())
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        Ok(ids)
    }

    /// The SCIM groups these users are direct members of: (user, group).
    pub async fn direct_groups_of(&self, user_ids: &[String]) -> DomainResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(500) {
            let sql = direct_groups_sql(chunk.len());
            let rows = with_pool!(self.store, |p| {
                let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Every group-in-group edge of the tenant: (member group, parent group).
    pub async fn group_edges(&self) -> DomainResult<Vec<(String, String)>> {
        let rows = with_pool!(self.store, |p| {
            sqlx::query_as::<_, (String, String)>(GROUP_EDGES_SQL).bind(self.id.as_str()).fetch_all(p).await
        })?;
        Ok(rows)
    }

    /// The SCIM groups of the tenant, by name (id, displayName), at most 2,000.
    pub async fn idp_group_names(&self) -> DomainResult<Vec<(String, String)>> {
        let rows = with_pool!(self.store, |p| {
            sqlx::query_as::<_, (String, String)>(
                "SELECT id, display_name FROM scim_groups WHERE tenant_id = $1 ORDER BY display_name_norm, id LIMIT 2000",
            )
            .bind(self.id.as_str())
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }

    /// Records the start of a whole-tenant evaluation.
    pub async fn start_mapping_run(&self, id: &str, reason: &str, total: i64, now_ms: i64) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query("INSERT INTO mapping_runs (tenant_id, id, reason, total, done, started_at) VALUES ($1, $2, $3, $4, 0, $5)")
                .bind(self.id.as_str())
                .bind(id)
                .bind(reason)
                .bind(total)
                .bind(now_ms)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Records progress (and, with `finished_at`, the end) of an evaluation.
    pub async fn update_mapping_run(
        &self,
        id: &str,
        done: i64,
        changed: i64,
        finished_at: Option<i64>,
        error: Option<&str>,
    ) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query(
                "UPDATE mapping_runs SET done = $1, changed = $6, finished_at = $2, error = $3 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(done)
            .bind(finished_at)
            .bind(error)
            .bind(self.id.as_str())
            .bind(id)
            .bind(changed)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The latest evaluation.
    pub async fn latest_mapping_run(&self) -> DomainResult<Option<crate::dto::MappingRun>> {
        with_pool!(self.store, |p| {
            let row = sqlx::query(
                "SELECT id, reason, total, done, changed, started_at, finished_at, error FROM mapping_runs \
                 WHERE tenant_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1",
            )
            .bind(self.id.as_str())
            .fetch_optional(p)
            .await?;
            row.map(|r| {
                Ok(crate::dto::MappingRun {
                    id: r.try_get("id")?,
                    reason: r.try_get("reason")?,
                    total: r.try_get("total")?,
                    done: r.try_get("done")?,
                    changed: r.try_get("changed")?,
                    started_at_ms: r.try_get("started_at")?,
                    finished_at_ms: r.try_get("finished_at")?,
                    error: r.try_get("error")?,
                })
            })
            .transpose()
        })
    }

    /// How many users the tenant has.
    pub async fn user_count(&self) -> DomainResult<i64> {
        let n = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM scim_users WHERE tenant_id = $1")
                .bind(self.id.as_str())
                .fetch_one(p)
                .await
        })?;
        Ok(n)
    }
}

//! Mapping rules, the memberships they make, and what placing users reads and writes inside
//! a write's transaction.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use super::filter_sql::{self, Arg, Sql, Table};
use super::query::{bind_all, data_out};
use super::tx::{with_tx, TenantTx};
use super::{placeholders, with_pool, with_scan, Backend, TenantStore};
use crate::scim::filter::Filter;
use crate::scim::schema::ResourceSchema;
pub(crate) use crate::service::mappings::Placement;

/// A whole-tenant run that changed this many users or more is followed, on PostgreSQL, by a
/// vacuum and analyze of the placement tables (`user_assignment`, `user_group_members`).
/// Autovacuum comes, but a minute later at best (`autovacuum_naptime`), while the admin who has
/// just set a default group looks at the Unassigned page at once: a million users had left the
/// partial index `user_assignment_unassigned`, leaving a million dead entries there, and the
/// statistics said everyone was unassigned (the page took 0.3–1 s at a million users, beside an
/// autovacuum). When the run changed a tenth of the users or more, `user_assignment` is
/// vacuumed before the run is recorded as finished (3 s at a million users, against a run of
/// minutes); otherwise, and `user_group_members` always, in the background.
pub const PLACEMENT_VACUUM_AFTER: i64 = 10_000;

impl super::Store {
    /// A whole-tenant run evaluated `evaluated` users and changed `changed` of them: vacuums the
    /// placement tables on PostgreSQL past [`PLACEMENT_VACUUM_AFTER`] (see there). Waits only
    /// for a vacuum of `user_assignment` after a run that changed a tenth of the tenant; the
    /// rest runs in the background, skipped for a table another vacuum holds. Failures are
    /// logged: the tables stay right, only slower to read.
    pub async fn tidy_after_run(&self, evaluated: i64, changed: i64) {
        let super::Pool::Postgres(p) = &self.pool else { return };
        if changed < PLACEMENT_VACUUM_AFTER {
            return;
        }
        let mut background = "VACUUM (ANALYZE, SKIP_LOCKED) user_group_members, user_assignment";
        if changed.saturating_mul(10) >= evaluated {
            let started = std::time::Instant::now();
            // Not SKIP_LOCKED: an autovacuum holding the table is cancelled (it yields to a
            // waiting lock after `deadlock_timeout`) and this one does the work at once.
            match sqlx::raw_sql("VACUUM (ANALYZE) user_assignment").execute(p).await {
                Ok(_) => tracing::info!(ms = started.elapsed().as_millis() as u64, "user_assignment vacuumed"),
                Err(e) => tracing::warn!("vacuuming user_assignment: {e}"),
            }
            background = "VACUUM (ANALYZE, SKIP_LOCKED) user_group_members";
        }
        let p = p.clone();
        // Not prepared (VACUUM cannot be) and outside any transaction.
        tokio::spawn(async move {
            if let Err(e) = sqlx::raw_sql(background).execute(&p).await {
                tracing::warn!("vacuuming the placement tables: {e}");
            }
        });
    }
}

/// Every group-in-group edge of a tenant: (member group, parent group).
pub(crate) const GROUP_EDGES_SQL: &str =
    "SELECT member_id, group_id FROM scim_group_members WHERE tenant_id = $1 AND member_type = 'Group'";

/// The SCIM groups `n` users ($2…) are direct members of: (user, group).
pub fn direct_groups_sql(n: usize) -> String {
    // A just-in-time user's groups claim names SCIM groups by displayName (case-insensitively):
    // those count as the user's direct groups, so the IdP group rules place them too.
    let list = placeholders(2, n);
    format!(
        "SELECT member_id, group_id FROM scim_group_members WHERE tenant_id = $1 AND member_id IN ({list}) \
         UNION SELECT c.user_id, g.id FROM sso_claim_groups c JOIN scim_groups g \
         ON g.tenant_id = c.tenant_id AND g.display_name_norm = c.name_norm \
         WHERE c.tenant_id = $1 AND c.user_id IN ({list})"
    )
}

/// The rule- and default-made memberships of `n` users ($2…): (user, group, reason, rule).
/// The users' memberships are found first, on `(tenant_id, user_id)`, and only then filtered by
/// reason: with both conditions together, PostgreSQL's planner, going by statistics taken while
/// `user_group_members` was nearly empty (before a rule run filled it), walked every rule
/// membership of the tenant through `user_group_members_rule` and filtered the users (405
/// buffers and 3–10 ms for 10 users among 20,000 memberships), on every SCIM write of a tenant
/// with rules. The same trap as [`super::user_group_access_sql`]'s.
pub fn rule_memberships_sql(n: usize) -> String {
    format!(
        "WITH m AS MATERIALIZED (SELECT user_id, group_id, reason, rule_id FROM user_group_members \
         WHERE tenant_id = $1 AND user_id IN ({})) \
         SELECT user_id, group_id, reason, rule_id FROM m WHERE reason IN ('rule', 'default')",
        placeholders(2, n)
    )
}

/// [`direct_groups_sql`] for the users with ids in ($2, $3] (a whole-tenant run's batch).
pub const DIRECT_GROUPS_RANGE_SQL: &str = "SELECT member_id, group_id FROM scim_group_members \
     WHERE tenant_id = $1 AND member_id > $2 AND member_id <= $3 AND member_type = 'User' \
     UNION SELECT c.user_id, g.id FROM sso_claim_groups c JOIN scim_groups g \
     ON g.tenant_id = c.tenant_id AND g.display_name_norm = c.name_norm \
     WHERE c.tenant_id = $1 AND c.user_id > $2 AND c.user_id <= $3";

/// Removes `n` rule memberships: (tenant, group, user, reason, rule) parameters per row. The
/// `VALUES` inside a `SELECT`: SQLite scans the table for `IN (VALUES …)`.
pub(crate) fn remove_rule_memberships_sql(n: usize, anonymous: bool) -> String {
    format!(
        "DELETE FROM user_group_members WHERE (tenant_id, group_id, user_id, reason, rule_id) IN \
         (SELECT column1, column2, column3, column4, column5 FROM (VALUES {}) v)",
        super::value_rows(n, 5, anonymous)
    )
}

/// Adds `n` rule memberships, of users and user groups that exist: (tenant, user, group,
/// reason, rule, added at) parameters per row. `VALUES` columns are `column1`, `column2`, … on
/// both backends.
pub(crate) fn add_rule_memberships_sql(n: usize, anonymous: bool) -> String {
    format!(
        "INSERT INTO user_group_members (tenant_id, group_id, user_id, reason, rule_id, added_by, added_at) \
         SELECT u.tenant_id, g.id, u.id, v.column4, v.column5, NULL, v.column6 FROM (VALUES {}) v \
         JOIN scim_users u ON u.tenant_id = v.column1 AND u.id = v.column2 \
         JOIN user_groups g ON g.tenant_id = v.column1 AND g.id = v.column3 \
         WHERE TRUE ON CONFLICT DO NOTHING",
        super::value_rows(n, 6, anonymous)
    )
}

/// [`rule_memberships_sql`] for the users with ids in ($2, $3].
pub const RULE_MEMBERSHIPS_RANGE_SQL: &str = "SELECT user_id, group_id, reason, rule_id FROM user_group_members \
     WHERE tenant_id = $1 AND user_id > $2 AND user_id <= $3 AND reason IN ('rule', 'default')";

use crate::error::DomainResult;

/// What placing some users reads, inside the write's transaction: the users as written, their
/// IdP groups and their current rule memberships.
#[derive(Clone, Debug, Default)]
pub struct PlacementInputs {
    /// (user id, resource JSON).
    pub users: Vec<(String, String)>,
    /// Their direct SCIM groups: (user, group).
    pub direct: Vec<(String, String)>,
    /// Every group-in-group edge of the tenant: (member group, parent group).
    pub edges: Vec<(String, String)>,
    /// Their current rule- and default-made memberships.
    pub current: Vec<RuleMembership>,
    /// Read with [`RuleConditions`] instead of `users`: (user id, `1` or `0` per attribute rule,
    /// in the rules' order).
    pub matched: Vec<(String, String)>,
}

/// A tenant's attribute rules compiled to SQL (see [`super::filter_sql`]), for a whole-tenant
/// run: the database evaluates them on each user of a batch and sends a `1` or `0` per rule
/// instead of every user's resource (on PostgreSQL rendering a thousand resources as text took
/// 8 ms a batch, parsing them here 4 ms more).
#[derive(Clone, Debug)]
pub struct RuleConditions {
    /// One text column: `1` or `0` per rule, in order.
    select: String,
    /// Its parameters, numbered from `$4`.
    args: Vec<Arg>,
}

impl RuleConditions {
    /// These filters (resolved against the User schema), compiled for the store's backend;
    /// `None` when there are none or one cannot be compiled (over the cost limit): the rules
    /// are then evaluated here, on the resources.
    pub fn compile(store: &super::Store, filters: &[&Filter]) -> Option<RuleConditions> {
        // $1, $2 and $3 are the batch's tenant, first id and size.
        Self::compile_after(store, filters, 3)
    }

    /// As [`Self::compile`], for [`TenantStore::users_by_conditions`] and
    /// [`TenantStore::users_meeting_conditions`] (whose only parameter before them is the tenant).
    pub fn compile_for_tenant(store: &super::Store, filters: &[&Filter]) -> Option<RuleConditions> {
        Self::compile_after(store, filters, 1)
    }

    /// The filters compiled with their parameters numbered after `reserved` others.
    fn compile_after(store: &super::Store, filters: &[&Filter], reserved: usize) -> Option<RuleConditions> {
        if filters.is_empty() {
            return None;
        }
        let mut sql = Sql::new(store.dialect());
        sql.args.extend(std::iter::repeat_n(Arg::Int(0), reserved));
        let mut columns = Vec::new();
        for f in filters {
            let compiled = filter_sql::compile(f, ResourceSchema::user(), Table::Users, sql).ok()?;
            sql = compiled.sql;
            columns.push(format!("CASE WHEN ({}) THEN '1' ELSE '0' END", compiled.cond));
        }
        Some(RuleConditions { select: columns.join(" || "), args: sql.args.split_off(reserved) })
    }

    /// No condition (an empty text per user): the run of a tenant whose rules are all off or
    /// gone, which places users only in its default user group (or nowhere).
    pub fn none() -> RuleConditions {
        RuleConditions { select: "CAST('' AS TEXT)".into(), args: Vec::new() }
    }

    /// The test of [`TenantTx::users_to_place_after`] over these conditions (compiled with
    /// [`Self::compile`], one per rule and every rule an attribute rule): `rules` are each
    /// rule's (id, user group) in the conditions' order, `default` the default user group.
    pub fn check(&self, rules: &[(&str, &str)], default: Option<&str>) -> PlacementCheck {
        let mut args = self.args.clone();
        // $1, $2 and $3 are the tenant and the span's first and last ids.
        let mut arg = |v: &str| {
            args.push(Arg::Text(v.to_string()));
            format!("${}", 3 + args.len())
        };
        // Per user: which rules' rows they have (a `1` or `0` each, as the conditions are),
        // whether they have the default group's row, and how many rule- or default-made rows
        // no rule gives (another group than the rule's, a rule switched off or gone, a former
        // default group). As the placer reads them, a default row's rule id is not looked at.
        let mut given = Vec::new();
        let mut has = Vec::new();
        for (rule, group) in rules {
            let row = format!("(m.reason = 'rule' AND m.rule_id = {} AND m.group_id = {})", arg(rule), arg(group));
            has.push(format!("MAX(CASE WHEN {row} THEN '1' ELSE '0' END)"));
            given.push(row);
        }
        let has = if has.is_empty() { "CAST('' AS TEXT)".to_string() } else { has.join(" || ") };
        // A user without a row has none of the rules' (conditions are all `0`s or `1`s).
        let mut differs = vec![format!("COALESCE(m.has, '{}') <> u.f", "0".repeat(rules.len()))];
        let mut default_row = "0".to_string();
        if let Some(d) = default {
            let row = format!("(m.reason = 'default' AND m.group_id = {})", arg(d));
            default_row = format!("MAX(CASE WHEN {row} THEN 1 ELSE 0 END)");
            given.push(row);
            // The default group's row exactly when no condition is met.
            differs.push("COALESCE(m.in_default, 0) <> CASE WHEN u.f LIKE '%1%' THEN 0 ELSE 1 END".to_string());
        }
        let given = if given.is_empty() { "FALSE".to_string() } else { given.join(" OR ") };
        let rows = format!(
            "{has} AS has, {default_row} AS in_default, \
             SUM(CASE WHEN m.reason NOT IN ('rule', 'default') OR {given} THEN 0 ELSE 1 END) AS stray"
        );
        differs.push("COALESCE(m.stray, 0) > 0".to_string());
        // A user with a placement a seat limit refused is placed again whatever their rows: the
        // placement records the refusals anew (and drops those the rules no longer want).
        differs.push("EXISTS (SELECT 1 FROM placement_refusals r WHERE r.tenant_id = $1 AND r.user_id = u.id)".into());
        let differs = format!("({})", differs.join(" OR "));
        PlacementCheck { flags: self.select.clone(), rows, differs, args }
    }
}

/// How a whole-tenant run finds the users the rules would move, in the database: each user's
/// conditions (a `1` or `0` per rule) against the rule- and default-made memberships the user
/// has (see [`RuleConditions::check`] and [`TenantTx::users_to_place_after`]).
#[derive(Clone, Debug)]
pub struct PlacementCheck {
    /// The conditions, one text per user (see [`RuleConditions`]).
    flags: String,
    /// A user's rule- and default-made rows, summed up (an aggregate over `m`): `has`,
    /// `in_default` and `stray`.
    rows: String,
    /// True for a user (`u.id`, conditions `u.f`, rows summed up in `m`) whose memberships are
    /// not those the rules give.
    differs: String,
    /// The parameters of both, numbered from `$4`.
    args: Vec<Arg>,
}

/// What a whole-tenant run's step found (see [`TenantTx::users_to_place_after`]).
#[derive(Debug, Default)]
pub struct ToPlace {
    /// Users looked at: those after the run's checkpoint up to `last`.
    pub evaluated: usize,
    /// The last of them, in id order (the run's next checkpoint); `None`: no user is left.
    pub last: Option<String>,
    /// Those the rules would move, as [`PlacementInputs::matched`], with their current
    /// rule- and default-made memberships.
    pub read: PlacementInputs,
}

/// How many of a tenant's users follow the id $2, up to $3 of them, and the last of those.
const SPAN_SQL: &str = "SELECT COUNT(*), MAX(s.id) FROM \
     (SELECT id FROM scim_users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3) s";

/// How many of a tenant's users have ids in ($2, $3].
const USERS_BETWEEN_SQL: &str = "SELECT COUNT(*) FROM scim_users WHERE tenant_id = $1 AND id > $2 AND id <= $3";

impl TenantStore<'_> {
    /// How many of the tenant's users meet each combination of `conditions` (compiled with
    /// [`RuleConditions::compile_for_tenant`]): (a `1` or `0` per condition, users). One scan of
    /// the tenant's users in the database, on the scan pool (admitted per tenant, stopped at its
    /// time limit): what a rule preview counts, without sending a million resources here.
    pub async fn users_by_conditions(&self, conditions: &RuleConditions) -> DomainResult<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT flags, COUNT(*) FROM (SELECT {} AS flags FROM scim_users t WHERE t.tenant_id = $1) s GROUP BY flags",
            conditions.select
        );
        let tenant = self.id.as_str();
        let rows = with_scan!(self.store, self.id, |c| {
            bind_all!(sqlx::query_as::<_, (String, i64)>(&sql).bind(tenant), &conditions.args).fetch_all(c).await?
        });
        Ok(rows)
    }

    /// The userNames of the first `limit` users (in id order) whose `conditions` come out as one
    /// of `flags` (see [`Self::users_by_conditions`]).
    pub async fn users_meeting_conditions(
        &self,
        conditions: &RuleConditions,
        flags: &[String],
        limit: i64,
    ) -> DomainResult<Vec<String>> {
        if flags.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let first = conditions.args.len() + 2;
        let sql = format!(
            "SELECT t.user_name FROM scim_users t WHERE t.tenant_id = $1 AND ({}) IN ({}) ORDER BY t.id LIMIT ${}",
            conditions.select,
            placeholders(first, flags.len()),
            first + flags.len()
        );
        let tenant = self.id.as_str();
        let names = with_scan!(self.store, self.id, |c| {
            let mut q = bind_all!(sqlx::query_scalar::<_, String>(&sql).bind(tenant), &conditions.args);
            for f in flags {
                q = q.bind(f);
            }
            q.bind(limit).fetch_all(c).await?
        });
        Ok(names)
    }
}

impl TenantTx<'_> {
    /// The rules and the default user group as this transaction reads them from the database
    /// (not from the cache), which then holds them.
    pub async fn placement_settings(&mut self) -> DomainResult<(Vec<RuleRecord>, Option<String>)> {
        let tenant = self.id.as_str();
        let epoch = self.store.cache.epoch();
        let settings = with_tx!(self, |c| {
            let rows = sqlx::query(RULES_SQL).bind(tenant).fetch_all(&mut *c).await?;
            let rules = rows.iter().map(rule_from_row).collect::<DomainResult<Vec<_>>>()?;
            let default =
                sqlx::query_scalar::<_, String>(DEFAULT_GROUP_SQL).bind(tenant).fetch_optional(&mut *c).await?;
            DomainResult::Ok((rules, default))
        })?;
        self.store.cache.put_placement(epoch, tenant, &settings);
        Ok(settings)
    }

    /// PostgreSQL: whether the tenant has something to place (a rule, on or off, or a default
    /// user group), read from the database after taking the tenant's placement lock shared for
    /// the rest of the transaction (`roster_placing`, migration 0040): for a write that places
    /// nothing because the instance's cache said so (see `mappings::place_late`). SQLite: false
    /// (its cache is never behind).
    pub async fn placing_now(&mut self) -> DomainResult<bool> {
        if let super::tx::TxConn::PostgresTx(t) = &mut self.conn {
            return Ok(sqlx::query_scalar("SELECT roster_placing($1)")
                .bind(self.id.as_str())
                .fetch_one(&mut **t)
                .await?);
        }
        Ok(false)
    }

    /// The users in these groups, directly or through groups nested in them (the users a group
    /// write re-places).
    pub async fn users_below(&mut self, groups: &[String]) -> DomainResult<Vec<String>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let tenant = self.id.as_str();
        let edges: Vec<(String, String)> =
            with_tx!(self, |c| sqlx::query_as(GROUP_EDGES_SQL).bind(tenant).fetch_all(c).await)?;
        // The groups and every group nested in them.
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for (child, parent) in &edges {
            children.entry(parent.as_str()).or_default().push(child.as_str());
        }
        let mut all: Vec<&str> = Vec::new();
        let mut todo: Vec<&str> = groups.iter().map(String::as_str).collect();
        while let Some(g) = todo.pop() {
            if all.contains(&g) {
                continue;
            }
            all.push(g);
            if let Some(cs) = children.get(g) {
                todo.extend(cs.iter().copied());
            }
        }
        let mut users = BTreeSet::new();
        for chunk in all.chunks(500) {
            let sql = format!(
                "SELECT member_id FROM scim_group_members WHERE tenant_id = $1 AND member_type = 'User' AND group_id IN ({})",
                placeholders(2, chunk.len())
            );
            let found: Vec<String> = with_tx!(self, |c| {
                let mut q = sqlx::query_scalar::<_, String>(&sql).bind(tenant);
                for g in chunk {
                    q = q.bind(*g);
                }
                q.fetch_all(c).await
            })?;
            users.extend(found);
        }
        Ok(users.into_iter().collect())
    }

    /// What placing these users needs, as this transaction sees it (`idp`: whether the rules
    /// look at IdP groups at all; if not, those are not read).
    pub async fn placement_inputs(&mut self, user_ids: &[String], idp: bool) -> DomainResult<PlacementInputs> {
        let tenant = self.id.as_str();
        let data = data_out(self.backend());
        let mut read = PlacementInputs::default();
        if idp {
            read.edges = with_tx!(self, |c| sqlx::query_as(GROUP_EDGES_SQL).bind(tenant).fetch_all(c).await)?;
        }
        for chunk in user_ids.chunks(500) {
            let list = placeholders(2, chunk.len());
            let users_sql =
                format!("SELECT t.id, {data} FROM scim_users t WHERE t.tenant_id = $1 AND t.id IN ({list})");
            let direct_sql = direct_groups_sql(chunk.len());
            with_tx!(self, |c| {
                let mut q = sqlx::query_as::<_, (String, String)>(&users_sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                read.users.extend(q.fetch_all(&mut *c).await?);
                if idp {
                    let mut q = sqlx::query_as::<_, (String, String)>(&direct_sql).bind(tenant);
                    for u in chunk {
                        q = q.bind(u);
                    }
                    read.direct.extend(q.fetch_all(&mut *c).await?);
                }
                DomainResult::Ok(())
            })?;
        }
        read.current = self.rule_memberships_of(user_ids).await?;
        Ok(read)
    }

    /// The current rule- and default-made memberships of these users.
    async fn rule_memberships_of(&mut self, user_ids: &[String]) -> DomainResult<Vec<RuleMembership>> {
        let tenant = self.id.as_str();
        let mut current = Vec::new();
        for chunk in user_ids.chunks(500) {
            let sql = rule_memberships_sql(chunk.len());
            current.extend(with_tx!(self, |c| {
                let mut q = sqlx::query_as::<_, RuleMembership>(&sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                q.fetch_all(c).await
            })?);
        }
        Ok(current)
    }

    /// What placing the next `limit` users after the id `after` (in id order) needs, as this
    /// transaction sees it: a whole-tenant evaluation's batch. Read as ranges of the id
    /// indexes (the users, then the memberships and groups of the users from the first id to
    /// the last), where [`Self::placement_inputs`] looks each user up in lists of ids.
    ///
    /// With `conditions`, the users come as [`PlacementInputs::matched`] (the attribute rules
    /// evaluated by the database) instead of as resources.
    pub async fn placement_inputs_after(
        &mut self,
        after: &str,
        limit: i64,
        idp: bool,
        conditions: Option<&RuleConditions>,
    ) -> DomainResult<PlacementInputs> {
        let tenant = self.id.as_str();
        let column = match conditions {
            Some(c) => c.select.clone(),
            None => data_out(self.backend()).to_string(),
        };
        let users_sql = format!(
            "SELECT t.id, {column} FROM scim_users t WHERE t.tenant_id = $1 AND t.id > $2 ORDER BY t.id LIMIT $3"
        );
        let no_args = Vec::new();
        let args = conditions.map_or(&no_args, |c| &c.args);
        let users: Vec<(String, String)> = with_tx!(self, |c| {
            bind_all!(sqlx::query_as(&users_sql).bind(tenant).bind(after).bind(limit), args).fetch_all(c).await
        })?;
        let Some(last) = users.last().map(|(id, _)| id.clone()) else { return Ok(PlacementInputs::default()) };
        let mut read = match conditions {
            Some(_) => PlacementInputs { matched: users, ..Default::default() },
            None => PlacementInputs { users, ..Default::default() },
        };
        with_tx!(self, |c| {
            if idp {
                read.edges = sqlx::query_as(GROUP_EDGES_SQL).bind(tenant).fetch_all(&mut *c).await?;
                read.direct = sqlx::query_as(DIRECT_GROUPS_RANGE_SQL)
                    .bind(tenant)
                    .bind(after)
                    .bind(&last)
                    .fetch_all(&mut *c)
                    .await?;
            }
            read.current = sqlx::query_as(RULE_MEMBERSHIPS_RANGE_SQL)
                .bind(tenant)
                .bind(after)
                .bind(&last)
                .fetch_all(&mut *c)
                .await?;
            DomainResult::Ok(())
        })?;
        Ok(read)
    }

    /// A whole-tenant run's step: of the next `span` users after the id `after` (in id order),
    /// those whose rule- and default-made memberships are not what the rules give them
    /// (`check`), the first `most` of them, with what placing them needs. When there are more,
    /// the step ends at the last of those; users after it are left to the next step.
    ///
    /// Where [`Self::placement_inputs_after`] sends every user's conditions and memberships
    /// here to be compared, the database compares them, and a step sends only the users that
    /// move: after a rule change that moves 2% of a million users, 20,000 users' rows instead
    /// of a million.
    pub async fn users_to_place_after(
        &mut self,
        after: &str,
        span: i64,
        most: usize,
        check: &PlacementCheck,
    ) -> DomainResult<ToPlace> {
        let tenant = self.id.as_str();
        let (mut evaluated, last): (i64, Option<String>) =
            with_tx!(self, |c| sqlx::query_as(SPAN_SQL).bind(tenant).bind(after).bind(span).fetch_one(c).await)?;
        let Some(mut last) = last else { return Ok(ToPlace::default()) };
        // The conditions are computed once per user (the fence keeps the planner from copying
        // their expression into each of its uses below).
        let fence = match self.backend() {
            Backend::Postgres => "OFFSET 0",
            Backend::Sqlite => "LIMIT -1 OFFSET 0",
        };
        // The users and their memberships are both read as ranges of ids, and joined in id
        // order: a user's memberships looked up one by one were 3 index descents each (50 ms
        // of a 10,000 users' step at a million users on PostgreSQL, against 15 ms so).
        let sql = format!(
            "SELECT u.id, u.f FROM (SELECT t.id, {} AS f FROM scim_users t \
             WHERE t.tenant_id = $1 AND t.id > $2 AND t.id <= $3 ORDER BY t.id {fence}) u \
             LEFT JOIN (SELECT m.user_id, {} FROM user_group_members m \
             WHERE m.tenant_id = $1 AND m.user_id > $2 AND m.user_id <= $3 GROUP BY m.user_id) m \
             ON m.user_id = u.id WHERE {} ORDER BY u.id LIMIT {most}",
            check.flags, check.rows, check.differs
        );
        let matched: Vec<(String, String)> = with_tx!(self, |c| {
            bind_all!(sqlx::query_as(&sql).bind(tenant).bind(after).bind(&last), &check.args).fetch_all(c).await
        })?;
        if matched.len() >= most {
            if let Some((id, _)) = matched.last() {
                last = id.clone();
                evaluated = with_tx!(self, |c| {
                    sqlx::query_scalar(USERS_BETWEEN_SQL).bind(tenant).bind(after).bind(&last).fetch_one(c).await
                })?;
            }
        }
        let ids: Vec<String> = matched.iter().map(|(id, _)| id.clone()).collect();
        let current = self.rule_memberships_of(&ids).await?;
        Ok(ToPlace {
            evaluated: usize::try_from(evaluated).unwrap_or(0),
            last: Some(last),
            read: PlacementInputs { matched, current, ..Default::default() },
        })
    }

    /// Whether `run` is the tenant's latest whole-tenant evaluation (none started after it).
    pub async fn is_latest_mapping_run(&mut self, run: &str) -> DomainResult<bool> {
        let tenant = self.id.as_str();
        let latest: Option<String> = with_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT id FROM mapping_runs WHERE tenant_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1",
            )
            .bind(tenant)
            .fetch_optional(c)
            .await
        })?;
        Ok(latest.is_none_or(|id| id == run))
    }

    /// Records a running evaluation's progress.
    pub async fn mapping_run_progress(&mut self, run: &str, done: i64, changed: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            sqlx::query("UPDATE mapping_runs SET done = $1, changed = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(done)
                .bind(changed)
                .bind(tenant)
                .bind(run)
                .execute(c)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Writes a [`Placement`]: the rule- and default-made memberships it adds and removes
    /// (users or user groups that no longer exist are skipped).
    pub async fn apply_placement(&mut self, placement: &Placement, now_ms: i64) -> DomainResult<()> {
        // A statement per 200 rows: a whole-tenant run's batch may move hundreds of users, and
        // a statement per row was a round trip each on PostgreSQL.
        let tenant = self.id.as_str();
        let anonymous = self.conn.anonymous_params();
        for chunk in placement.remove.chunks(200) {
            let sql = remove_rule_memberships_sql(chunk.len(), anonymous);
            with_tx!(self, |c| {
                let mut q = sqlx::query(&sql);
                for (user, group, reason, rule) in chunk {
                    q = q.bind(tenant).bind(group).bind(user).bind(reason).bind(rule);
                }
                q.execute(c).await.map(|_| ())
            })?;
        }
        for chunk in placement.add.chunks(200) {
            let sql = add_rule_memberships_sql(chunk.len(), anonymous);
            with_tx!(self, |c| {
                let mut q = sqlx::query(&sql);
                for (user, group, reason, rule) in chunk {
                    q = q.bind(tenant).bind(user).bind(group).bind(reason).bind(rule).bind(now_ms);
                }
                q.execute(c).await.map(|_| ())
            })?;
        }
        Ok(())
    }
}

const RULES_SQL: &str = "SELECT id, position, kind, idp_group_id, filter, user_group_id, enabled FROM mapping_rules \
     WHERE tenant_id = $1 ORDER BY position, id";

const DEFAULT_GROUP_SQL: &str = "SELECT id FROM user_groups WHERE tenant_id = $1 AND is_default LIMIT 1";

fn rule_from_row<R: super::direct::DbRow>(r: &R) -> DomainResult<RuleRecord> {
    Ok(RuleRecord {
        id: r.get("id")?,
        position: r.get("position")?,
        kind: r.get("kind")?,
        idp_group_id: r.get("idp_group_id")?,
        filter: r.get("filter")?,
        user_group_id: r.get("user_group_id")?,
        enabled: r.get("enabled")?,
    })
}

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

impl TenantTx<'_> {
    /// Adds a rule at the end of the order.
    pub async fn insert_mapping_rule(&mut self, r: &RuleRecord, now_ms: i64) -> DomainResult<()> {
        with_tx!(self, |c| {
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
            .execute(&mut *c)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Changes a rule; returns whether it exists.
    pub async fn update_mapping_rule(&mut self, r: &RuleRecord, now_ms: i64) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
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
            .execute(&mut *c)
            .await
            .map(|x| x.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Deletes a rule and the memberships it made; returns whether it existed.
    pub async fn delete_mapping_rule(&mut self, id: &str) -> DomainResult<bool> {
        with_tx!(self, |c| {
            sqlx::query("DELETE FROM user_group_members WHERE tenant_id = $1 AND reason = 'rule' AND rule_id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *c)
                .await?;
            let n = sqlx::query("DELETE FROM mapping_rules WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected();
            DomainResult::Ok(n > 0)
        })
    }

    /// Puts the rules in this order (ids not listed keep their relative order after them).
    pub async fn reorder_mapping_rules(&mut self, ids: &[String], now_ms: i64) -> DomainResult<()> {
        with_tx!(self, |c| {
            for (i, id) in ids.iter().enumerate() {
                sqlx::query("UPDATE mapping_rules SET position = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
                    .bind(i as i64 + 1)
                    .bind(now_ms)
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
            }
            DomainResult::Ok(())
        })
    }
}

impl TenantStore<'_> {
    /// Every rule, in order.
    pub async fn mapping_rules(&self) -> DomainResult<Vec<RuleRecord>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(RULES_SQL).bind(self.id.as_str()).fetch_all(p).await?;
            rows.iter().map(rule_from_row).collect::<DomainResult<Vec<_>>>()
        })
    }

    /// The tenant's default user group.
    pub async fn default_user_group(&self) -> DomainResult<Option<String>> {
        self.read_default_user_group().await
    }

    /// The rules and the default user group as the database holds them now, never from the
    /// cache: what a whole-tenant run evaluates. On PostgreSQL another instance may have changed
    /// them a moment ago, and this instance's cache keeps the old ones until that instance's
    /// notice arrives; a run claimed here in between evaluated the tenant with the old rules.
    pub async fn stored_placement_settings(&self) -> DomainResult<(Vec<RuleRecord>, Option<String>)> {
        Ok((self.mapping_rules().await?, self.read_default_user_group().await?))
    }

    /// The rules and the default user group, as placing users needs them on every SCIM write:
    /// from this instance's cache when fresh (see `cache::TenantCache`).
    pub async fn placement_settings(&self) -> DomainResult<(Vec<RuleRecord>, Option<String>)> {
        if let Some(settings) = self.store.cache.placement(self.id.as_str()) {
            return Ok(settings);
        }
        let epoch = self.store.cache.epoch();
        let settings = (self.mapping_rules().await?, self.read_default_user_group().await?);
        self.store.cache.put_placement(epoch, self.id.as_str(), &settings);
        Ok(settings)
    }

    async fn read_default_user_group(&self) -> DomainResult<Option<String>> {
        let id = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, String>(DEFAULT_GROUP_SQL).bind(self.id.as_str()).fetch_optional(p).await
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

    /// The users written at or after `since_ms` (epoch ms), in (written at, id) order after
    /// `after`, at most `limit` (a walk along the order of last change: the `(tenant_id,
    /// updated_at)` index on SQLite, `user_updated_order` on PostgreSQL, migration 0033): what a
    /// whole-tenant evaluation looks at again at its end, for writes that raced it.
    pub async fn users_written_since(
        &self,
        since_ms: i64,
        after: &(i64, String),
        limit: i64,
    ) -> DomainResult<Vec<(i64, String)>> {
        let (table, id) = match self.store.backend() {
            Backend::Sqlite => ("scim_users", "id"),
            Backend::Postgres => ("user_updated", "user_id"),
        };
        let sql = format!(
            "SELECT updated_at, {id} FROM {table} WHERE tenant_id = $1 AND updated_at >= $2 \
             AND (updated_at > $3 OR (updated_at = $3 AND {id} > $4)) ORDER BY updated_at, {id} LIMIT $5"
        );
        let rows = with_pool!(self.store, |p| {
            sqlx::query_as::<_, (i64, String)>(&sql)
                .bind(self.id.as_str())
                .bind(since_ms)
                .bind(after.0)
                .bind(&after.1)
                .bind(limit)
                .fetch_all(p)
                .await
        })?;
        Ok(rows)
    }

    /// The users added to an IdP group at or after `since_ms` (see [`Self::users_written_since`]).
    pub async fn users_added_to_groups_since(&self, since_ms: i64) -> DomainResult<Vec<String>> {
        let ids = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT member_id FROM scim_group_members WHERE tenant_id = $1 AND member_type = 'User' AND added_at >= $2",
            )
            .bind(self.id.as_str())
            .bind(since_ms)
            .fetch_all(p)
            .await
        })?;
        Ok(ids)
    }

    /// The SCIM groups the users with ids in (`after`, `last`] are direct members of: (user,
    /// group).
    pub async fn direct_groups_in(&self, after: &str, last: &str) -> DomainResult<Vec<(String, String)>> {
        let rows = with_pool!(self.store, |p| {
            sqlx::query_as::<_, (String, String)>(DIRECT_GROUPS_RANGE_SQL)
                .bind(self.id.as_str())
                .bind(after)
                .bind(last)
                .fetch_all(p)
                .await
        })?;
        Ok(rows)
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

    /// Records the end of an evaluation that failed for good (its progress stays as recorded).
    pub async fn end_mapping_run(&self, id: &str, finished_at: i64, error: &str) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query("UPDATE mapping_runs SET finished_at = $1, error = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(finished_at)
                .bind(error)
                .bind(self.id.as_str())
                .bind(id)
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
                    job: None,
                })
            })
            .transpose()
        })
    }

    /// How many users the tenant has.
    pub async fn user_count(&self) -> DomainResult<i64> {
        Ok(self.user_counts().await?.all())
    }
}

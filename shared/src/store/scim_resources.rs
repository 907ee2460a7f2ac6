//! SCIM Users, Groups and memberships of a tenant.

use std::collections::HashMap;

use sqlx::Row;

use super::mappings::{lock_placement, place_touched, Planner};
use super::scans::ScanConnection;
use super::scim_sql::{Arg, Dialect, Sql};
use super::{unique_violation, with_pool, Backend, TenantStore, Unique};
use crate::error::{DomainError, DomainResult};

/// A stored user (the SCIM resource is `data` plus id, meta and groups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// The SCIM id.
    pub id: String,
    /// userName as sent.
    pub user_name: String,
    /// `scim`, `jit` or `manual`.
    pub source: String,
    /// The canonical resource without id/meta/groups, as JSON text.
    pub data: String,
    /// Incremented by every write (the ETag).
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

/// A user to insert with [`TenantStore::insert_users`].
#[derive(Clone, Debug)]
pub struct NewUserRow {
    /// The SCIM id.
    pub id: String,
    /// Its indexed columns.
    pub columns: UserColumns,
    /// `scim`, `jit` or `manual`.
    pub source: String,
    /// The canonical resource as JSON text.
    pub data: String,
}

/// The indexed columns of a user, computed from its resource.
#[derive(Clone, Debug)]
pub struct UserColumns {
    /// userName as sent.
    pub user_name: String,
    /// userName, ASCII-lower-cased.
    pub user_name_norm: String,
    /// externalId.
    pub external_id: Option<String>,
    /// displayName, ASCII-lower-cased.
    pub display_name_norm: Option<String>,
    /// The primary (or first) email, ASCII-lower-cased.
    pub primary_email_norm: Option<String>,
    /// active (absent means true).
    pub active: bool,
    /// What the dashboard sorts names by: the display name, else given and family name, else
    /// userName; ASCII-lower-cased.
    pub sort_name: String,
    /// What the dashboard searches: userName, names, primary email and externalId, ASCII-lower-
    /// cased and joined by spaces.
    pub search_text: String,
}

/// A stored group (the SCIM resource is `data` plus id, meta and members).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// The SCIM id.
    pub id: String,
    /// displayName.
    pub display_name: String,
    /// The canonical resource without id/meta/members, as JSON text.
    pub data: String,
    /// The ETag version.
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

/// The indexed columns of a group.
#[derive(Clone, Debug)]
pub struct GroupColumns {
    /// displayName.
    pub display_name: String,
    /// displayName, ASCII-lower-cased.
    pub display_name_norm: String,
    /// externalId.
    pub external_id: Option<String>,
}

/// One member of a group, as the resource shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's id.
    pub id: String,
    /// `User` or `Group`.
    pub kind: String,
    /// Its displayName (or userName).
    pub display: Option<String>,
}

/// A group a user belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserGroupRow {
    /// The user.
    pub user_id: String,
    /// The group.
    pub group_id: String,
    /// The group's displayName.
    pub display: String,
    /// Direct membership (else through a nested group).
    pub direct: bool,
}

/// A page of rows and the total count.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// All matching rows (not counted for cursor pages).
    pub total: Option<i64>,
    /// This page.
    pub rows: Vec<T>,
}

/// What a query selects (the condition and order are compiled SQL).
pub(crate) struct Query {
    pub where_sql: Option<(String, Sql)>,
    pub order_by: Option<(String, bool)>,
    pub offset: i64,
    pub limit: i64,
    /// Keyset paging (RFC 9865 cursors): only rows after this (created_at, id), in the default
    /// order, without a total count, so every page after the first costs the same however deep
    /// it is.
    pub after: Option<(i64, String)>,
    /// The filter scans the tenant's rows: run it under the limits of [`super::scans`].
    pub expensive: bool,
}

/// Runs a paged query over `$table` (aliased `t`), with the SQL of `Query`; `$cols` are the
/// selected columns, `$decode` turns a row into the page's type.
macro_rules! page_query {
    ($self:ident, $q:ident, $table:literal, $extra:literal, $cols:expr, $decode:ident) => {{
        let q = $q;
        let (cond, mut sql) = match q.where_sql {
            Some((c, s)) => (format!(" AND ({c})"), s),
            None => (String::new(), Sql::new($self.dialect())),
        };
        let tenant_arg = sql.arg(Arg::Text($self.id.as_str().to_string()));
        let base = format!(concat!("FROM ", $table, " t WHERE t.tenant_id = {} ", $extra, "{}"), tenant_arg, cond);
        let count_sql = format!("SELECT COUNT(*) FROM (SELECT 1 {base}) c");
        let keyset = match &q.after {
            Some((at, id)) => {
                let a = sql.arg(Arg::Int(*at));
                let b = sql.arg(Arg::Text(id.clone()));
                format!(" AND (t.created_at > {a} OR (t.created_at = {a} AND t.id > {b}))")
            }
            None => String::new(),
        };
        let order = match &q.order_by {
            Some((expr, desc)) => format!(" ORDER BY {expr} {} NULLS LAST, t.id", if *desc { "DESC" } else { "ASC" }),
            None => " ORDER BY t.created_at, t.id".to_string(),
        };
        let page_sql =
            format!("SELECT {} {base}{keyset}{order} LIMIT {} OFFSET {}", $cols, q.limit.max(0), q.offset.max(0));
        let args = sql.args;
        // The count query binds only the filter's and the tenant's parameters.
        let count_args = &args[..args.len() - if q.after.is_some() { 2 } else { 0 }];
        macro_rules! run {
            ($exec:expr) => {{
                let total = if q.after.is_some() {
                    None
                } else {
                    Some(bind_all!(sqlx::query_scalar::<_, i64>(&count_sql), count_args).fetch_one($exec).await?)
                };
                let rows = if q.limit > 0 {
                    bind_all!(sqlx::query(&page_sql), &args).fetch_all($exec).await?
                } else {
                    Vec::new()
                };
                let rows = rows.iter().map($decode).collect::<DomainResult<Vec<_>>>()?;
                DomainResult::Ok(Page { total, rows })
            }};
        }
        if q.expensive {
            let mut scan = $self.store.scans.begin($self.id).await?;
            match &mut scan.conn {
                ScanConnection::Sqlite(c) => run!(&mut **c),
                ScanConnection::Postgres(c) => run!(&mut **c),
            }
        } else {
            with_pool!($self.store, |p| run!(p))
        }
    }};
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::Real(f) => q.bind(*f),
                Arg::Bool(b) => q.bind(*b),
            };
        }
        q
    }};
}

/// Adds members to a group inside a transaction (an existing membership is kept as is).
macro_rules! insert_members {
    ($tx:ident, $tenant:expr, $group:expr, $members:expr, $now:expr) => {
        for (member, kind) in $members {
            sqlx::query(
                "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_type, added_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind($tenant)
            .bind($group)
            .bind(member)
            .bind(kind)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    };
}

impl TenantStore<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        self.store.dialect()
    }

    /// The `data` column as text (PostgreSQL stores JSONB), for `SELECT … FROM … t`.
    pub(super) fn data_out(&self) -> &'static str {
        match self.store.backend() {
            Backend::Sqlite => "t.data",
            Backend::Postgres => "t.data::text AS data",
        }
    }

    fn json_in(&self, n: usize) -> String {
        match self.store.backend() {
            Backend::Sqlite => format!("${n}"),
            Backend::Postgres => format!("CAST(${n} AS JSONB)"),
        }
    }

    // ----- users -----

    /// Inserts a user and, in the same transaction (under the tenant's placement lock), places
    /// it by the mapping rules (`planner`; `None` when the tenant has nothing to place: then the
    /// insert is one statement); `Conflict` if the userName is taken in this tenant.
    pub async fn insert_user(
        &self,
        id: &str,
        cols: &UserColumns,
        source: &str,
        data: &str,
        now_ms: i64,
        planner: Option<Planner<'_>>,
    ) -> DomainResult<()> {
        let data_out = self.data_out();
        let touched = [id.to_string()];
        let sql = format!(
            "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, external_id, display_name_norm, primary_email_norm, active, source, data, version, created_at, updated_at, sort_name, search_text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {}, 1, $11, $11, $12, $13)",
            self.json_in(10)
        );
        with_pool!(self.store, |p| {
            let insert = sqlx::query(&sql)
                .bind(self.id.as_str())
                .bind(id)
                .bind(&cols.user_name)
                .bind(&cols.user_name_norm)
                .bind(&cols.external_id)
                .bind(&cols.display_name_norm)
                .bind(&cols.primary_email_norm)
                .bind(cols.active)
                .bind(source)
                .bind(data)
                .bind(now_ms)
                .bind(&cols.sort_name)
                .bind(&cols.search_text);
            if planner.is_none() {
                // Nothing to place: one statement, no transaction to open.
                insert.execute(p).await.map_err(map_user_conflict)?;
                return DomainResult::Ok(());
            }
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), true);
            insert.execute(&mut *tx).await.map_err(map_user_conflict)?;
            place_touched!(tx, self.id.as_str(), data_out, planner, &touched, now_ms);
            tx.commit().await?;
            DomainResult::Ok(())
        })
    }

    /// Inserts many users in one transaction: all or none (`Conflict` names the first taken
    /// userName's position if one is). Used by CSV import and by the load benchmark's seeding.
    pub async fn insert_users(&self, users: &[NewUserRow], now_ms: i64) -> DomainResult<()> {
        // 12 parameters a row (and the tenant); 500 rows stay far below both backends' parameter
        // limits. SQLite gets anonymous `?`s, each value bound where it appears (see
        // `insert_activity` for why numbered parameters cost so much there).
        const CHUNK: usize = 500;
        let anonymous = matches!(self.store.backend(), Backend::Sqlite);
        let json = |n: usize| self.json_in(n);
        // The statements run in an async block of their own, so that their `?` ends the block
        // with the sqlx error (which `map_user_conflict` turns into `Conflict`), not the
        // function with an internal error.
        with_pool!(self.store, |p| async {
            let mut tx = p.begin().await?;
            for chunk in users.chunks(CHUNK) {
                let mut sql = String::from(
                    "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, external_id, display_name_norm, primary_email_norm, active, source, data, version, created_at, updated_at, sort_name, search_text) VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = i * 12;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    if anonymous {
                        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)");
                        continue;
                    }
                    let p: Vec<String> = (2..=13).map(|k| format!("${}", b + k)).collect();
                    sql.push_str(&format!(
                        "($1, {}, {}, {}, {}, {}, {}, {}, {}, {}, 1, {}, {}, {}, {})",
                        p[0],
                        p[1],
                        p[2],
                        p[3],
                        p[4],
                        p[5],
                        p[6],
                        p[7],
                        json(b + 10),
                        p[9],
                        p[9],
                        p[10],
                        p[11]
                    ));
                }
                let mut q = sqlx::query(&sql);
                if !anonymous {
                    q = q.bind(self.id.as_str());
                }
                for u in chunk {
                    if anonymous {
                        q = q.bind(self.id.as_str());
                    }
                    q = q
                        .bind(&u.id)
                        .bind(&u.columns.user_name)
                        .bind(&u.columns.user_name_norm)
                        .bind(&u.columns.external_id)
                        .bind(&u.columns.display_name_norm)
                        .bind(&u.columns.primary_email_norm)
                        .bind(u.columns.active)
                        .bind(&u.source)
                        .bind(&u.data)
                        .bind(now_ms);
                    if anonymous {
                        q = q.bind(now_ms);
                    }
                    q = q.bind(&u.columns.sort_name).bind(&u.columns.search_text);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<(), sqlx::Error>(())
        }
        .await)
        .map_err(map_user_conflict)
    }

    fn user_select(&self) -> String {
        format!(
            "SELECT t.id, t.user_name, t.source, {}, t.version, t.created_at, t.updated_at FROM scim_users t",
            self.data_out()
        )
    }

    /// A user by id (any source).
    pub async fn user(&self, id: &str) -> DomainResult<Option<UserRow>> {
        let sql = format!("{} WHERE t.tenant_id = $1 AND t.id = $2", self.user_select());
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// A user by normalized userName.
    pub async fn user_by_user_name(&self, user_name_norm: &str) -> DomainResult<Option<UserRow>> {
        let sql = format!("{} WHERE t.tenant_id = $1 AND t.user_name_norm = $2", self.user_select());
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(user_name_norm).fetch_optional(p).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// Writes a new version of a user if it is still at `expected_version`, with the rule
    /// memberships planned for that version, in one transaction; returns whether it was written
    /// (nothing is when another write came first). `Conflict` if the new userName is taken.
    pub async fn update_user(
        &self,
        id: &str,
        cols: &UserColumns,
        data: &str,
        expected_version: i64,
        now_ms: i64,
        planner: Option<Planner<'_>>,
    ) -> DomainResult<bool> {
        let data_out = self.data_out();
        let touched = [id.to_string()];
        let sql = format!(
            "UPDATE scim_users SET user_name = $1, user_name_norm = $2, external_id = $3, display_name_norm = $4, primary_email_norm = $5, \
             active = $6, data = {}, version = version + 1, updated_at = $8, sort_name = $12, search_text = $13 \
             WHERE tenant_id = $9 AND id = $10 AND version = $11",
            self.json_in(7)
        );
        with_pool!(self.store, |p| {
            let update = sqlx::query(&sql)
                .bind(&cols.user_name)
                .bind(&cols.user_name_norm)
                .bind(&cols.external_id)
                .bind(&cols.display_name_norm)
                .bind(&cols.primary_email_norm)
                .bind(cols.active)
                .bind(data)
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(id)
                .bind(expected_version)
                .bind(&cols.sort_name)
                .bind(&cols.search_text);
            if planner.is_none() {
                let n = update.execute(p).await.map_err(map_user_conflict)?.rows_affected();
                return DomainResult::Ok(n > 0);
            }
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), true);
            let n = update.execute(&mut *tx).await.map_err(map_user_conflict)?.rows_affected();
            if n == 0 {
                // Someone else wrote first.
                tx.rollback().await?;
                return Ok(false);
            }
            // Planned inside the transaction, from the user as written and the IdP groups and
            // rule memberships as the lock leaves them.
            place_touched!(tx, self.id.as_str(), data_out, planner, &touched, now_ms);
            tx.commit().await?;
            DomainResult::Ok(true)
        })
    }

    /// Deletes a user and its memberships; returns whether it existed.
    pub async fn delete_user(&self, id: &str) -> DomainResult<bool> {
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query("DELETE FROM scim_users WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND member_id = $2")
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM user_group_members WHERE tenant_id = $1 AND user_id = $2")
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            DomainResult::Ok(n > 0)
        })
    }

    /// Users matching a compiled query, excluding manually created ones.
    pub(crate) async fn query_users(&self, q: Query) -> DomainResult<Page<UserRow>> {
        let cols = format!("t.id, t.user_name, t.source, {}, t.version, t.created_at, t.updated_at", self.data_out());
        page_query!(self, q, "scim_users", "AND t.source <> 'manual'", cols, user_from_row)
    }

    /// The groups of these users, direct and through nested groups.
    pub async fn groups_of_users(&self, user_ids: &[String]) -> DomainResult<Vec<UserGroupRow>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..user_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "WITH RECURSIVE memb(user_id, group_id, depth) AS ( \
               SELECT m.member_id, m.group_id, 0 FROM scim_group_members m WHERE m.tenant_id = $1 AND m.member_id IN ({}) \
               UNION \
               SELECT memb.user_id, m.group_id, 1 FROM memb JOIN scim_group_members m ON m.tenant_id = $1 AND m.member_id = memb.group_id \
             ) \
             SELECT memb.user_id, memb.group_id, MIN(memb.depth) AS depth, g.display_name FROM memb \
             JOIN scim_groups g ON g.tenant_id = $1 AND g.id = memb.group_id \
             GROUP BY memb.user_id, memb.group_id, g.display_name ORDER BY g.display_name, memb.group_id",
            placeholders.join(", ")
        );
        with_pool!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in user_ids {
                q = q.bind(id.as_str());
            }
            let rows = q.fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(UserGroupRow {
                        user_id: r.try_get("user_id")?,
                        group_id: r.try_get("group_id")?,
                        display: r.try_get("display_name")?,
                        direct: r
                            .try_get::<i64, _>("depth")
                            .unwrap_or_else(|_| i64::from(r.try_get::<i32, _>("depth").unwrap_or(1)))
                            == 0,
                    })
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }

    // ----- groups -----

    /// Inserts a group with its members in one transaction.
    pub async fn insert_group(
        &self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        members: &[(String, String)],
        now_ms: i64,
        planner: Option<Planner<'_>>,
    ) -> DomainResult<()> {
        let touched: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
        let data_out = self.data_out();
        let sql = format!(
            "INSERT INTO scim_groups (tenant_id, id, display_name, display_name_norm, external_id, data, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, {}, 1, $7, $7)",
            self.json_in(6)
        );
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), planner.is_some());
            sqlx::query(&sql)
                .bind(self.id.as_str())
                .bind(id)
                .bind(&cols.display_name)
                .bind(&cols.display_name_norm)
                .bind(&cols.external_id)
                .bind(data)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            insert_members!(tx, self.id.as_str(), id, members, now_ms);
            place_touched!(tx, self.id.as_str(), data_out, planner, &touched, now_ms);
            tx.commit().await?;
            DomainResult::Ok(())
        })
    }

    fn group_select(&self) -> String {
        format!(
            "SELECT t.id, t.display_name, {}, t.version, t.created_at, t.updated_at FROM scim_groups t",
            self.data_out()
        )
    }

    /// A group by id.
    pub async fn group(&self, id: &str) -> DomainResult<Option<GroupRow>> {
        let sql = format!("{} WHERE t.tenant_id = $1 AND t.id = $2", self.group_select());
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(group_from_row).transpose()
        })
    }

    /// Writes a group's attributes and changes its members in one transaction, if the group is
    /// still at `expected_version` (when given). `members`: `None` leaves them, `Some` replaces
    /// them; `add`/`remove` change them row by row (so concurrent changes never lose a member).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_group(
        &self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        expected_version: Option<i64>,
        replace_members: Option<&[(String, String)]>,
        add: &[(String, String)],
        remove: &[String],
        now_ms: i64,
        placement: Option<(Planner<'_>, &[String])>,
    ) -> DomainResult<bool> {
        let data_out = self.data_out();
        let (planner, touched) = match placement {
            Some((p, t)) => (Some(p), t),
            None => (None, &[][..]),
        };
        let sql = format!(
            "UPDATE scim_groups SET display_name = $1, display_name_norm = $2, external_id = $3, data = {}, version = version + 1, updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 AND ($8 < 0 OR version = $8)",
            self.json_in(4)
        );
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), planner.is_some());
            let n = sqlx::query(&sql)
                .bind(&cols.display_name)
                .bind(&cols.display_name_norm)
                .bind(&cols.external_id)
                .bind(data)
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(id)
                .bind(expected_version.unwrap_or(-1))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return DomainResult::Ok(false);
            }
            if let Some(members) = replace_members {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2")
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                insert_members!(tx, self.id.as_str(), id, members, now_ms);
            }
            for member in remove {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3")
                    .bind(self.id.as_str())
                    .bind(id)
                    .bind(member)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_members!(tx, self.id.as_str(), id, add, now_ms);
            place_touched!(tx, self.id.as_str(), data_out, planner, touched, now_ms);
            tx.commit().await?;
            DomainResult::Ok(true)
        })
    }

    /// Deletes a group, its members, and its memberships in other groups.
    pub async fn delete_group(&self, id: &str, placement: Option<(Planner<'_>, &[String])>) -> DomainResult<bool> {
        let data_out = self.data_out();
        let (planner, touched) = match placement {
            Some((p, t)) => (Some(p), t),
            None => (None, &[][..]),
        };
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), planner.is_some());
            sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM scim_groups WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            place_touched!(tx, self.id.as_str(), data_out, planner, touched, crate::clock::now_ms());
            tx.commit().await?;
            DomainResult::Ok(n > 0)
        })
    }

    /// Groups matching a compiled query.
    pub(crate) async fn query_groups(&self, q: Query) -> DomainResult<Page<GroupRow>> {
        let cols = format!("t.id, t.display_name, {}, t.version, t.created_at, t.updated_at", self.data_out());
        page_query!(self, q, "scim_groups", "", cols, group_from_row)
    }

    /// The members of groups, with display names.
    pub async fn members_of(&self, group_ids: &[String]) -> DomainResult<HashMap<String, Vec<MemberRow>>> {
        let mut out: HashMap<String, Vec<MemberRow>> = HashMap::new();
        if group_ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (0..group_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT m.group_id, m.member_id, m.member_type, COALESCE(g.display_name, u.user_name) AS display \
             FROM scim_group_members m \
             LEFT JOIN scim_users u ON m.member_type = 'User' AND u.tenant_id = m.tenant_id AND u.id = m.member_id \
             LEFT JOIN scim_groups g ON m.member_type = 'Group' AND g.tenant_id = m.tenant_id AND g.id = m.member_id \
             WHERE m.tenant_id = $1 AND m.group_id IN ({}) ORDER BY m.group_id, m.added_at, m.member_id",
            placeholders.join(", ")
        );
        with_pool!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in group_ids {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(p).await? {
                let group: String = r.try_get("group_id")?;
                out.entry(group).or_default().push(MemberRow {
                    id: r.try_get("member_id")?,
                    kind: r.try_get("member_type")?,
                    display: r.try_get("display")?,
                });
            }
            DomainResult::Ok(())
        })?;
        Ok(out)
    }

    /// Which of these ids are users or groups of this tenant (manual users included: an admin
    /// may want them in IdP groups too).
    pub async fn resource_kinds(&self, ids: &[String]) -> DomainResult<HashMap<String, String>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let list = placeholders.join(", ");
        let sql = format!(
            "SELECT id, 'User' AS kind FROM scim_users WHERE tenant_id = $1 AND id IN ({list}) \
             UNION ALL SELECT id, 'Group' AS kind FROM scim_groups WHERE tenant_id = $1 AND id IN ({list})"
        );
        with_pool!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in ids {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(p).await? {
                out.insert(r.try_get::<String, _>("id")?, r.try_get::<String, _>("kind")?);
            }
            DomainResult::Ok(())
        })?;
        Ok(out)
    }
}

fn user_from_row<R>(row: &R) -> DomainResult<UserRow>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserRow {
        id: row.try_get("id")?,
        user_name: row.try_get("user_name")?,
        source: row.try_get("source")?,
        data: row.try_get("data")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn group_from_row<R>(row: &R) -> DomainResult<GroupRow>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(GroupRow {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        data: row.try_get("data")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn map_user_conflict(e: sqlx::Error) -> DomainError {
    match unique_violation(&e) {
        Some(Unique::ScimUserName) => DomainError::Conflict("userName".into()),
        _ => e.into(),
    }
}

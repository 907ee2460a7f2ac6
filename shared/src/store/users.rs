//! A tenant's users (SCIM, manual and just-in-time alike: one table, `source` says which).

use super::direct::JsonText;
use super::filter_sql::{Arg, Sql};
use super::query::{bind_all, data_out, data_raw, json_in, page_query, Page, Query};
use super::tx::{with_tx, TenantTx};
use super::with_scan;
use super::{unique_violation, with_pool, Backend, TenantStore, Unique};
use crate::dto::UserSource;
use crate::error::{DomainError, DomainResult};

/// A stored user (the SCIM resource is `data` plus id, meta and groups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// The SCIM id.
    pub id: String,
    /// userName as sent.
    pub user_name: String,
    /// Where it came from.
    pub source: UserSource,
    /// The canonical resource without id/meta/groups, as JSON text.
    pub data: String,
    /// Incremented by every write (the ETag).
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

impl UserRow {
    /// Whether the user is active (`active` of the resource; a user without it is).
    pub fn is_active(&self) -> bool {
        serde_json::from_str::<serde_json::Value>(&self.data).map_or(true, |v| Self::active_in(&v))
    }

    /// Whether a user's resource, parsed, is active: the rule of [`Self::is_active`], for a
    /// caller that holds the resource already.
    pub fn active_in(resource: &serde_json::Value) -> bool {
        resource.get("active").and_then(serde_json::Value::as_bool).unwrap_or(true)
    }

    /// The version of the user this row is, for a write that replaces it.
    pub fn read_version(&self) -> ReadVersion {
        ReadVersion { version: self.version, updated_at: self.updated_at }
    }
}

/// The version of a user that a write replaces, as the writer read it: the write goes ahead
/// only if the user is still at it. The number alone does not say so: a user deleted and
/// restored starts its numbers again (at 1, written at the restore), and a copy read before the
/// deletion (another instance's cached copy, see [`super::cache`]) may have the same number; the
/// time of the write tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadVersion {
    /// [`UserRow::version`].
    pub version: i64,
    /// [`UserRow::updated_at`].
    pub updated_at: i64,
}

/// A user to insert with [`TenantTx::insert_user`] or [`TenantTx::insert_users`].
#[derive(Clone, Debug)]
pub struct NewUserRow {
    /// The SCIM id.
    pub id: String,
    /// Its indexed columns.
    pub columns: UserColumns,
    /// Where it comes from.
    pub source: UserSource,
    /// The canonical resource as JSON text.
    pub data: String,
}

impl NewUserRow {
    /// The row as stored once written (at `version`, with these times).
    pub fn stored(self, version: i64, created_at: i64, updated_at: i64) -> UserRow {
        UserRow {
            id: self.id,
            user_name: self.columns.user_name,
            source: self.source,
            data: self.data,
            version,
            created_at,
            updated_at,
        }
    }
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

/// The INSERT of one new user, bound by [`bind_user_insert`].
fn insert_user_sql(backend: Backend) -> String {
    format!("{INSERT_USER} VALUES ({})", insert_user_values(backend))
}

/// The values of [`insert_user_sql`].
fn insert_user_values(backend: Backend) -> String {
    format!("$1, $2, $3, $4, $5, $6, $7, $8, $9, {}, 1, $11, $11, $12, $13", json_in(backend, 10))
}

/// PostgreSQL: a common table expression `p` of one row whose `to_place` says whether the tenant
/// (the parameter `$n`) has something to place, read by a write that places nothing: the
/// function `roster_placing` (migration 0040) takes the tenant's placement lock shared first.
/// Materialized, so that it runs once; the write reads from it, so that it runs before the
/// write takes any row lock (every placing transaction takes the placement lock first: no two
/// of them can wait on each other's locks in the other order).
fn placing_cte(n: usize) -> String {
    format!("p AS MATERIALIZED (SELECT roster_placing(${n}) AS to_place)")
}

/// Binds the parameters of [`insert_user_sql`] to a query.
macro_rules! bind_user_insert {
    ($q:expr, $tenant:expr, $user:expr, $now:expr) => {
        $q.bind($tenant)
            .bind(&$user.id)
            .bind(&$user.columns.user_name)
            .bind(&$user.columns.user_name_norm)
            .bind(&$user.columns.external_id)
            .bind(&$user.columns.display_name_norm)
            .bind(&$user.columns.primary_email_norm)
            .bind($user.columns.active)
            .bind($user.source.as_str())
            .bind(&$user.data)
            .bind($now)
            .bind(&$user.columns.sort_name)
            .bind(&$user.columns.search_text)
    };
}

/// The columns a new user's row is written with.
const INSERT_USER: &str =
    "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, external_id, display_name_norm, \
     primary_email_norm, active, source, data, version, created_at, updated_at, sort_name, search_text)";

impl TenantTx<'_> {
    /// A user's groups read in this transaction, when it runs in place on SQLite's writer
    /// connection (`None` otherwise: read them after the commit, as before). A write's answer
    /// names the user's groups; read after the COMMIT, on a read connection, that read first
    /// began a read of the WAL the write had just changed (SQLite then drops the connection's
    /// page cache), which in the patch-user profile was 5.3% of the samples for a query of
    /// microseconds; on the writer its pages are at hand. A user write does not change SCIM
    /// groups, so they are the groups the write leaves.
    pub async fn groups_in_place(&mut self, id: &str) -> DomainResult<Option<Vec<UserGroupRow>>> {
        if !matches!(self.conn, super::tx::TxConn::Direct(_)) {
            return Ok(None);
        }
        let sql = groups_of_users_sql(1);
        let tenant = self.id.as_str();
        let groups = with_tx!(self, |c| {
            let rows = sqlx::query(&sql).bind(tenant).bind(id).fetch_all(c).await?;
            rows.iter().map(user_group_from_row).collect::<DomainResult<Vec<_>>>()
        })?;
        Ok(Some(groups))
    }

    /// Inserts a user; [`DomainError::UserNameTaken`] if the userName is taken in this tenant.
    pub async fn insert_user(&mut self, user: &NewUserRow, now_ms: i64) -> DomainResult<()> {
        let sql = insert_user_sql(self.backend());
        let tenant = self.id.as_str();
        with_tx!(self, |c| bind_user_insert!(sqlx::query(&sql), tenant, user, now_ms)
            .execute(c)
            .await
            .map(|_| ())
            .map_err(|e| user_name_taken(e, &user.columns.user_name)))?;
        Ok(())
    }

    /// Inserts many users (all or none when in a transaction);
    /// [`DomainError::UserNameTaken`] if a userName is taken. Used by CSV import and by the
    /// load benchmark's seeding.
    pub async fn insert_users(&mut self, users: &[NewUserRow], now_ms: i64) -> DomainResult<()> {
        // 12 parameters a row (and the tenant); 500 rows stay far below both backends' parameter
        // limits. SQLite gets anonymous `?`s, each value bound where it appears (see
        // `insert_activity` for why numbered parameters cost so much there).
        const CHUNK: usize = 500;
        let backend = self.backend();
        let anonymous = matches!(backend, Backend::Sqlite);
        let tenant = self.id.as_str();
        for chunk in users.chunks(CHUNK) {
            let mut sql = format!("{INSERT_USER} VALUES ");
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
                    json_in(backend, b + 10),
                    p[9],
                    p[9],
                    p[10],
                    p[11]
                ));
            }
            with_tx!(self, |c| {
                let mut q = sqlx::query(&sql);
                if !anonymous {
                    q = q.bind(tenant);
                }
                for u in chunk {
                    if anonymous {
                        q = q.bind(tenant);
                    }
                    q = q
                        .bind(&u.id)
                        .bind(&u.columns.user_name)
                        .bind(&u.columns.user_name_norm)
                        .bind(&u.columns.external_id)
                        .bind(&u.columns.display_name_norm)
                        .bind(&u.columns.primary_email_norm)
                        .bind(u.columns.active)
                        .bind(u.source.as_str())
                        .bind(&u.data)
                        .bind(now_ms);
                    if anonymous {
                        q = q.bind(now_ms);
                    }
                    q = q.bind(&u.columns.sort_name).bind(&u.columns.search_text);
                }
                q.execute(c).await.map(|_| ()).map_err(|e| user_name_taken(e, ""))
            })?;
        }
        Ok(())
    }

    /// Writes a new version of a user if it is still at `expected`; returns whether it
    /// was written (nothing is when another write came first). [`DomainError::UserNameTaken`]
    /// if the new userName is taken.
    pub async fn update_user(
        &mut self,
        id: &str,
        cols: &UserColumns,
        data: &str,
        expected: ReadVersion,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let tenant = self.id.as_str();
        // SQLite rewrites the entry of every index over a column the UPDATE sets, changed or
        // not (PostgreSQL compares the values): set only the indexed columns that change. A
        // PATCH of a title and `active` then writes two index entries instead of fourteen
        // (in place, the extra read is microseconds).
        let changed = match self.backend() {
            super::Backend::Sqlite => {
                let stored: Option<StoredColumns> = with_tx!(self, |c| sqlx::query_as(STORED_COLUMNS)
                    .bind(tenant)
                    .bind(id)
                    .bind(expected.version)
                    .bind(expected.updated_at)
                    .fetch_optional(c)
                    .await)?;
                match stored {
                    Some(stored) => changed_columns(&stored, cols),
                    None => return Ok(false),
                }
            }
            super::Backend::Postgres => ChangedColumns::ALL,
        };
        let sql = update_user_sql(self.backend(), changed, "");
        let n = with_tx!(self, |c| bind_user_update!(sqlx::query(&sql), cols, data, now_ms, tenant, id, expected)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| user_name_taken(e, &cols.user_name)))?;
        Ok(n > 0)
    }

    /// Changes where a user comes from (a SCIM create adopting a just-in-time or an adoptable
    /// manual user); the adoption mark goes.
    pub async fn set_user_source(&mut self, id: &str, source: crate::dto::UserSource) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| sqlx::query(
            "UPDATE scim_users SET source = $1, adopt_key = NULL WHERE tenant_id = $2 AND id = $3"
        )
        .bind(source.as_str())
        .bind(tenant)
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Deletes a user and its memberships (IdP groups, user groups); returns whether it
    /// existed. Three statements: run it in a transaction.
    pub async fn delete_user(&mut self, id: &str) -> DomainResult<bool> {
        let tenant = self.id.as_str();
        let n = with_tx!(self, |c| {
            let n = sqlx::query("DELETE FROM scim_users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected();
            if n > 0 {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND member_id = $2")
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("DELETE FROM user_group_members WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
            }
            DomainResult::Ok(n)
        })?;
        Ok(n > 0)
    }

    /// A user by id, read inside the transaction.
    pub async fn user(&mut self, id: &str) -> DomainResult<Option<UserRow>> {
        let sql = user_by_id_sql(self.backend());
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            let row = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(c).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }
}

/// A user by id (`$2`) in the tenant `$1`.
fn user_by_id_sql(backend: Backend) -> String {
    format!("{} WHERE t.tenant_id = $1 AND t.id = $2", user_select(backend))
}

pub(super) fn user_select(backend: Backend) -> String {
    format!(
        "SELECT t.id, t.user_name, t.source, {}, t.version, t.created_at, t.updated_at FROM scim_users t",
        data_out(backend)
    )
}

impl TenantStore<'_> {
    /// A user by id (any source).
    pub async fn user(&self, id: &str) -> DomainResult<Option<UserRow>> {
        let sql = user_by_id_sql(self.store.backend());
        super::with_read!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// A user by normalized userName.
    pub async fn user_by_user_name(&self, user_name_norm: &str) -> DomainResult<Option<UserRow>> {
        let sql = format!("{} WHERE t.tenant_id = $1 AND t.user_name_norm = $2", user_select(self.store.backend()));
        super::with_read!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(user_name_norm).fetch_optional(p).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// Users matching a compiled query, excluding manually created ones. Without a filter the
    /// total comes from the counts the writes keep (see [`super::counts`]), not a count of rows.
    pub(crate) async fn query_users(&self, q: Query) -> DomainResult<Page<UserRow>> {
        let cols = format!("t.id, t.user_name, t.source, {}, t.version, t.created_at, t.updated_at", data_raw());
        let known = self.known_total(&q, super::UserCounts::scim_visible).await?;
        page_query!(self, q, "scim_users", "AND t.source <> 'manual'", cols, user_from_row, known)
    }

    /// [`Self::query_users`] over every user, manual ones included (the read API).
    pub(crate) async fn query_all_users(&self, q: Query) -> DomainResult<Page<UserRow>> {
        let cols = format!("t.id, t.user_name, t.source, {}, t.version, t.created_at, t.updated_at", data_raw());
        let known = self.known_total(&q, super::UserCounts::all).await?;
        page_query!(self, q, "scim_users", "", cols, user_from_row, known)
    }

    /// The total of an unfiltered, counted list, from the kept counts.
    async fn known_total(&self, q: &Query, of: fn(&super::UserCounts) -> i64) -> DomainResult<Option<i64>> {
        if q.where_sql.is_some() || q.after.is_some() {
            return Ok(None);
        }
        Ok(Some(of(&self.user_counts().await?)))
    }

    /// A user by id (any source) with their groups (as [`Self::groups_of_users`] gives them):
    /// on PostgreSQL in one statement (one round trip where a GET by id took two), on SQLite in
    /// one read transaction.
    pub async fn user_with_groups(&self, id: &str) -> DomainResult<Option<(UserRow, Vec<UserGroupRow>)>> {
        if let Some(direct) = self.store.direct.as_deref() {
            // In place, two simple statements beat one with a join (GET 8,700/s against 7,100/s,
            // interleaved rounds): there is no round trip to save. Both in one read transaction
            // on one connection: SQLite takes the WAL's read lock and checks its page cache once
            // rather than per statement (Roster's CPU per GET 120–136 → 112–119 µs, three
            // interleaved rounds), and the groups are read in the user's snapshot.
            let mut conn = direct.read()?;
            conn.begin_snapshot()?;
            let read = self.user_with_groups_on(&mut conn, id).await;
            conn.end_snapshot()?;
            return read;
        }
        let sql = user_with_groups_sql(self.data_out(), "t.tenant_id = $1 AND t.id = $2");
        let tenant = self.id.as_str();
        super::with_read!(self.store, |c| {
            let rows = sqlx::query(&sql).bind(tenant).bind(id).fetch_all(c).await?;
            user_with_groups_from_rows(&rows)
        })
    }

    /// [`Self::user_with_groups`] on a direct read connection.
    async fn user_with_groups_on(
        &self,
        c: &mut super::direct::shim::DirectConn,
        id: &str,
    ) -> DomainResult<Option<(UserRow, Vec<UserGroupRow>)>> {
        use super::direct::shim as sqlx;
        let sql = user_by_id_sql(self.store.backend());
        let Some(row) = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(&mut *c).await? else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        let sql = groups_of_users_sql(1);
        let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(user.id.as_str()).fetch_all(&mut *c).await?;
        let groups = rows.iter().map(user_group_from_row).collect::<DomainResult<Vec<_>>>()?;
        Ok(Some((user, groups)))
    }

    /// Writes a new version of a user if it is still at `expected`, with the change's
    /// `events`, when that is all the write does (a SCIM write in a tenant with nothing to
    /// place): returns the user's groups as they are with it, `None` when another write came
    /// first (nothing written). [`DomainError::UserNameTaken`] if the new userName is taken.
    ///
    /// On PostgreSQL it is one statement that commits by itself: the UPDATE and the events'
    /// INSERT are data-modifying parts of the query that reads the groups (which sees them as
    /// they were when the statement began, in the same snapshot as the UPDATE). As a
    /// transaction a PATCH took five round trips after reading the user (BEGIN, UPDATE, INSERT
    /// of the events, COMMIT, the groups), each a wake-up of both sides on a busy machine. On
    /// SQLite it is that transaction, in place on the writer (see [`super::writer`]).
    ///
    /// With the groups, on PostgreSQL, whether the tenant has something to place, read by the
    /// statement after it took the placement lock shared (see [`placing_cte`]; `None` on SQLite).
    /// The statement runs on one of the hot requests' connections (see [`super::pg_conns`]), as
    /// does [`Self::insert_user_alone`]'s.
    pub async fn update_user_alone(
        &self,
        id: &str,
        cols: &UserColumns,
        data: &str,
        expected: ReadVersion,
        now_ms: i64,
        events: Vec<super::NewEvent>,
    ) -> DomainResult<Option<(Vec<UserGroupRow>, Option<bool>)>> {
        let Some(conns) = self.store.pg_conns.as_ref() else {
            let mut tx = self.begin().await?;
            if !tx.update_user(id, cols, data, expected, now_ms).await? {
                return Ok(None);
            }
            for e in events {
                tx.emit(e);
            }
            let groups = tx.groups_in_place(id).await?;
            tx.commit().await?;
            let groups = match groups {
                Some(groups) => groups,
                None => self.groups_of_users(&[id.to_string()]).await?,
            };
            return Ok(Some((groups, None)));
        };
        const FIRST: usize = 15;
        let queue = if events.is_empty() {
            String::new()
        } else {
            let rows = super::value_rows_from(events.len(), 5, FIRST);
            format!(
                "ev AS ({} SELECT $9, e.id, e.type, e.at, e.data, e.cause \
                 FROM u, (VALUES {rows}) e(id, type, at, data, cause)), ",
                super::events::PENDING_INSERT
            )
        };
        let update = update_user_sql(Backend::Postgres, ChangedColumns::ALL, "p");
        let sql = format!("{update} RETURNING tenant_id, id, p.to_place");
        // RECURSIVE: `u` may name `p`, which comes after it.
        let sql = with_groups_sql(&sql, &format!("{}, {queue}", placing_cte(9)), "u.id, u.to_place");
        let tenant = self.id.as_str();
        let mut q = bind_user_update!(sqlx::query(&sql), cols, data, now_ms, tenant, id, expected);
        for e in &events {
            q = super::events::bind_pending!(q, e);
        }
        let mut conn = conns.acquire().await?;
        let rows = q.fetch_all(&mut *conn).await;
        conn.release_after(&rows);
        let rows = rows.map_err(|e| user_name_taken(e, &cols.user_name))?;
        if rows.is_empty() {
            return Ok(None);
        }
        if !events.is_empty() {
            self.store.events_wake.notify_one();
        }
        let placing = super::direct::DbRow::get::<bool>(&rows[0], "to_place")?;
        Ok(Some((groups_from_rows(id, &rows)?, Some(placing))))
    }

    /// Inserts a user with its creation's `events`, when that is all the create does (a SCIM
    /// create in a tenant with nothing to place); [`DomainError::UserNameTaken`] if the userName
    /// is taken. On PostgreSQL it is one statement that commits by itself (the events' INSERT a
    /// data-modifying part of it, as in [`Self::update_user_alone`]): as a transaction it took
    /// four round trips (BEGIN, the user, the events, COMMIT). On SQLite it is that
    /// transaction, in place on the writer. Returns, on PostgreSQL, whether the tenant has
    /// something to place, read by the statement (see [`placing_cte`]).
    pub async fn insert_user_alone(
        &self,
        user: &NewUserRow,
        now_ms: i64,
        events: Vec<super::NewEvent>,
    ) -> DomainResult<Option<bool>> {
        let Some(conns) = self.store.pg_conns.as_ref() else {
            let mut tx = self.begin().await?;
            tx.insert_user(user, now_ms).await?;
            for e in events {
                tx.emit(e);
            }
            tx.commit().await?;
            return Ok(None);
        };
        // The user's values read from `p`: the tenant's placement lock is taken before the row is
        // written, and `to_place` read after it (see [`placing_cte`]).
        let insert = format!("{INSERT_USER} SELECT {} FROM p", insert_user_values(Backend::Postgres));
        let queue = if events.is_empty() {
            String::new()
        } else {
            let rows = super::value_rows_from(events.len(), 5, 14);
            format!(
                ", ev AS ({} SELECT u.tenant_id, e.id, e.type, e.at, e.data, e.cause \
                 FROM u, (VALUES {rows}) e(id, type, at, data, cause))",
                super::events::PENDING_INSERT
            )
        };
        let sql = format!("WITH {}, u AS ({insert} RETURNING tenant_id){queue} SELECT to_place FROM p", placing_cte(1));
        let mut q = bind_user_insert!(sqlx::query_scalar::<_, bool>(&sql), self.id.as_str(), user, now_ms);
        for e in &events {
            q = super::events::bind_pending!(q, e);
        }
        let mut conn = conns.acquire().await?;
        let placing = q.fetch_one(&mut *conn).await;
        conn.release_after(&placing);
        let placing = placing.map_err(|e| user_name_taken(e, &user.columns.user_name))?;
        if !events.is_empty() {
            self.store.events_wake.notify_one();
        }
        Ok(Some(placing))
    }

    /// A page of users (manual ones too when `manual`, as [`Self::query_all_users`]) and, when
    /// `with_groups`, their groups (as [`Self::groups_of_users`] gives them). On PostgreSQL the
    /// first page of a point query (Okta's and Entra's lookup by userName) is one statement: the
    /// count, the page and the groups were three round trips.
    pub(crate) async fn users_page(
        &self,
        q: Query,
        manual: bool,
        with_groups: bool,
    ) -> DomainResult<(Page<UserRow>, Vec<UserGroupRow>)> {
        if with_groups && self.store.backend() == Backend::Postgres && q.counts_by_page() && !q.expensive {
            return self.point_user_with_groups(q, manual).await;
        }
        let page = if manual { self.query_all_users(q).await? } else { self.query_users(q).await? };
        let groups = if with_groups {
            let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
            self.groups_of_users(&ids).await?
        } else {
            Vec::new()
        };
        Ok((page, groups))
    }

    /// [`Self::users_page`] of a point query's first page, in one statement; the total is the
    /// page's length (at most one user matches).
    async fn point_user_with_groups(&self, q: Query, manual: bool) -> DomainResult<(Page<UserRow>, Vec<UserGroupRow>)> {
        let (cond, mut sql) = match q.where_sql {
            Some((c, s)) => (format!(" AND ({c})"), s),
            None => (String::new(), Sql::new(self.dialect())),
        };
        let tenant = sql.arg(Arg::Text(self.id.as_str().to_string()));
        let extra = if manual { "" } else { " AND t.source <> 'manual'" };
        let stmt = user_with_groups_sql(
            self.data_out(),
            &format!("t.tenant_id = {tenant}{extra}{cond} ORDER BY t.created_at, t.id"),
        );
        let args = sql.args;
        let found = super::with_read!(self.store, |c| {
            let rows = bind_all!(sqlx::query(&stmt), &args).fetch_all(c).await?;
            user_with_groups_from_rows(&rows)
        })?;
        Ok(match found {
            Some((user, groups)) => (Page { total: Some(1), rows: vec![user] }, groups),
            None => (Page { total: Some(0), rows: Vec::new() }, Vec::new()),
        })
    }

    /// The groups of these users, direct and through nested groups.
    pub async fn groups_of_users(&self, user_ids: &[String]) -> DomainResult<Vec<UserGroupRow>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        if let ([id], Some(conns)) = (user_ids, self.store.pg_conns.as_ref()) {
            // One user (a write's answer): one generic plan for every tenant (see `GROUPS_OF_U`).
            let sql = with_groups_sql(&user_key_sql("$2"), "", "u.id");
            return super::with_pg_conn!(conns, |c| {
                let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_all(c).await?;
                groups_from_rows(id, &rows)
            });
        }
        let sql = groups_of_users_sql(user_ids.len());
        super::with_read!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in user_ids {
                q = q.bind(id.as_str());
            }
            q.fetch_all(p).await?.iter().map(user_group_from_row).collect::<DomainResult<Vec<_>>>()
        })
    }
}

/// The groups of `n` users (`$2`…), direct and through nested groups, with the depth of each.
fn groups_of_users_sql(n: usize) -> String {
    let placeholders: Vec<String> = (0..n).map(|i| format!("${}", i + 2)).collect();
    format!(
        "WITH RECURSIVE memb(user_id, group_id, depth) AS ( \
           SELECT m.member_id, m.group_id, 0 FROM scim_group_members m WHERE m.tenant_id = $1 AND m.member_id IN ({}) \
           UNION \
           SELECT memb.user_id, m.group_id, 1 FROM memb JOIN scim_group_members m ON m.tenant_id = $1 AND m.member_id = memb.group_id \
         ) \
         SELECT memb.user_id, memb.group_id, MIN(memb.depth) AS depth, g.display_name FROM memb \
         JOIN scim_groups g ON g.tenant_id = $1 AND g.id = memb.group_id \
         GROUP BY memb.user_id, memb.group_id, g.display_name ORDER BY g.display_name, memb.group_id",
        placeholders.join(", ")
    )
}

pub(super) fn user_from_row<R: super::direct::DbRow>(row: &R) -> DomainResult<UserRow> {
    Ok(UserRow {
        id: row.get("id")?,
        user_name: row.get("user_name")?,
        source: {
            let s: String = row.get("source")?;
            UserSource::parse(&s).ok_or_else(|| DomainError::Internal(format!("stored user source {s:?}")))?
        },
        data: row.get::<JsonText>("data")?.0,
        version: row.get("version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// One statement reading a user (the first row of `scim_users t` that `user_where` selects)
/// with their groups (see [`with_groups_sql`]; read by [`user_with_groups_from_rows`]); `data` is
/// the `data` column as text.
fn user_with_groups_sql(data: &str, user_where: &str) -> String {
    with_groups_sql(
        &format!(
            "SELECT t.tenant_id, t.id, t.user_name, t.source, {data}, t.version, t.created_at, t.updated_at \
             FROM scim_users t WHERE {user_where} LIMIT 1"
        ),
        "",
        "u.id, u.user_name, u.source, u.data, u.version, u.created_at, u.updated_at",
    )
}

/// The `u` of [`with_groups_sql`] for a user named by its id (the parameter `id`) in the tenant
/// `$1`: its `tenant_id` and `id`, or no row.
pub(super) fn user_key_sql(id: &str) -> String {
    format!("SELECT t.tenant_id, t.id FROM scim_users t WHERE t.tenant_id = $1 AND t.id = {id}")
}

/// [`user_key_sql`] of a user still at a [`ReadVersion`] (the parameters `version` and
/// `updated_at`), or no row.
pub(super) fn user_at_version_sql(id: &str, version: &str, updated_at: &str) -> String {
    format!("{} AND t.version = {version} AND t.updated_at = {updated_at}", user_key_sql(id))
}

/// A statement whose CTE `u` is `u_sql` (one user's row, with its `tenant_id` and `id`; a query,
/// or a data-modifying statement's RETURNING), followed by the CTEs `more` (each ending in ", ")
/// and [`GROUPS_OF_U`]: it selects `columns` of `u` with the user's groups, a row each ordered
/// by name (one row with no group when there is none; read by [`groups_from_rows`]).
fn with_groups_sql(u_sql: &str, more: &str, columns: &str) -> String {
    groups_after_sql(u_sql, more, "u", columns)
}

/// [`with_groups_sql`] selecting `columns` of the CTE `from` (`u`, or one of `more`) with the
/// user's groups. With `u`, a user that is gone gives no row; with a one-row CTE that does not
/// read `u` (the hold's `before`), it gives that row with no group.
pub(super) fn groups_after_sql(u_sql: &str, more: &str, from: &str, columns: &str) -> String {
    format!(
        "WITH RECURSIVE u AS ({u_sql}), {more}{GROUPS_OF_U} \
         SELECT {columns}, grp.group_id, grp.depth, grp.group_name FROM {from} LEFT JOIN grp ON 1 = 1 \
         ORDER BY grp.group_name, grp.group_id"
    )
}

/// The common table expressions `memb` and `grp` of a `WITH RECURSIVE` whose CTE `u` has one
/// user (its `tenant_id` and `id`): `grp` has the user's groups, direct and through nested
/// groups (`group_id`, `depth` 0 for a direct one, `group_name`).
///
/// The tenant comes from `u`, not from a parameter: PostgreSQL then plans the statement the same
/// for every tenant, and keeps one generic plan. With the tenant a parameter, each execution was
/// planned again (a custom plan looked cheaper for a tenant with few memberships): a GET by id
/// spent 0.36 ms planning and 0.09 ms executing (`pg_stat_statements`, 12,062 GETs). A group's
/// name is looked up by its key (a membership's group exists: a foreign key says so): joined, a
/// generic plan with no tenant to filter `scim_groups` by hashed the memberships and read every
/// tenant's groups.
const GROUPS_OF_U: &str = "memb(tenant_id, group_id, depth) AS ( \
       SELECT m.tenant_id, m.group_id, 0 FROM u JOIN scim_group_members m ON m.tenant_id = u.tenant_id AND m.member_id = u.id \
       UNION \
       SELECT m.tenant_id, m.group_id, 1 FROM memb \
       JOIN scim_group_members m ON m.tenant_id = memb.tenant_id AND m.member_id = memb.group_id \
     ), grp AS ( \
       SELECT d.group_id, d.depth, \
         (SELECT g.display_name FROM scim_groups g WHERE g.tenant_id = d.tenant_id AND g.id = d.group_id) AS group_name \
       FROM (SELECT memb.tenant_id, memb.group_id, MIN(memb.depth) AS depth FROM memb GROUP BY memb.tenant_id, memb.group_id) d \
     )";

/// The UPDATE of a user's new version, setting the indexed columns of `changed`: `$1`…`$14`
/// bound by [`bind_user_update!`] (`$9` the tenant, `$10` the id, `$11` and `$14` the
/// [`ReadVersion`] it replaces); `from`: a `FROM` list to join (none when empty).
fn update_user_sql(backend: Backend, changed: ChangedColumns, from: &str) -> String {
    let mut set = String::new();
    for (name, n, yes) in [
        ("user_name", 1, changed.user_name),
        ("user_name_norm", 2, changed.user_name),
        ("external_id", 3, changed.external_id),
        ("display_name_norm", 4, changed.display_name),
        ("primary_email_norm", 5, changed.primary_email),
        ("sort_name", 12, changed.sort_name),
        ("search_text", 13, changed.search_text),
    ] {
        if yes {
            set.push_str(&format!("{name} = ${n}, "));
        }
    }
    format!(
        "UPDATE scim_users SET {set}active = $6, data = {}, version = version + 1, updated_at = $8{} \
         WHERE tenant_id = $9 AND id = $10 AND version = $11 AND updated_at = $14",
        json_in(backend, 7),
        if from.is_empty() { String::new() } else { format!(" FROM {from}") }
    )
}

/// Binds the parameters of [`update_user_sql`] to a query.
macro_rules! bind_user_update {
    ($q:expr, $cols:expr, $data:expr, $now:expr, $tenant:expr, $id:expr, $expected:expr) => {
        $q.bind(&$cols.user_name)
            .bind(&$cols.user_name_norm)
            .bind(&$cols.external_id)
            .bind(&$cols.display_name_norm)
            .bind(&$cols.primary_email_norm)
            .bind($cols.active)
            .bind($data)
            .bind($now)
            .bind($tenant)
            .bind($id)
            .bind($expected.version)
            .bind(&$cols.sort_name)
            .bind(&$cols.search_text)
            .bind($expected.updated_at)
    };
}
use bind_user_update;

/// The rows of [`user_with_groups_sql`]: the user on each, a group on each but when
/// there is none (its depth is an INT4 on PostgreSQL).
fn user_with_groups_from_rows<R: super::direct::DbRow>(
    rows: &[R],
) -> DomainResult<Option<(UserRow, Vec<UserGroupRow>)>> {
    let Some(first) = rows.first() else { return Ok(None) };
    let user = user_from_row(first)?;
    let groups = groups_from_rows(&user.id, rows)?;
    Ok(Some((user, groups)))
}

/// The groups of [`GROUPS_OF_U`] on rows (`group_id`, `depth`, `group_name`; a row without a
/// group when there is none).
pub(super) fn groups_from_rows<R: super::direct::DbRow>(user_id: &str, rows: &[R]) -> DomainResult<Vec<UserGroupRow>> {
    let mut groups = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(group_id) = r.get::<Option<String>>("group_id")? {
            let depth = r.get::<i64>("depth").or_else(|_| r.get::<i32>("depth").map(i64::from)).unwrap_or(1);
            groups.push(UserGroupRow {
                user_id: user_id.to_string(),
                group_id,
                display: r.get("group_name")?,
                direct: depth == 0,
            });
        }
    }
    Ok(groups)
}

/// The indexed columns of a user (`$1` tenant, `$2` id) still at a [`ReadVersion`] (`$3`, `$4`).
const STORED_COLUMNS: &str = "SELECT user_name, user_name_norm, external_id, display_name_norm, primary_email_norm, \
     sort_name, search_text FROM scim_users WHERE tenant_id = $1 AND id = $2 AND version = $3 AND updated_at = $4";

/// A user's indexed columns as stored: user_name, user_name_norm, external_id,
/// display_name_norm, primary_email_norm, sort_name, search_text.
type StoredColumns = (String, String, Option<String>, Option<String>, Option<String>, String, String);

/// Which indexed columns an update changes (see [`TenantTx::update_user`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChangedColumns {
    user_name: bool,
    external_id: bool,
    display_name: bool,
    primary_email: bool,
    sort_name: bool,
    search_text: bool,
}

impl ChangedColumns {
    const ALL: ChangedColumns = ChangedColumns {
        user_name: true,
        external_id: true,
        display_name: true,
        primary_email: true,
        sort_name: true,
        search_text: true,
    };
}

fn changed_columns(stored: &StoredColumns, new: &UserColumns) -> ChangedColumns {
    let (user_name, user_name_norm, external_id, display_name_norm, primary_email_norm, sort_name, search_text) =
        stored;
    ChangedColumns {
        // userName as sent and its folded form go together (the unique index is on the latter).
        user_name: *user_name != new.user_name || *user_name_norm != new.user_name_norm,
        external_id: *external_id != new.external_id,
        display_name: *display_name_norm != new.display_name_norm,
        primary_email: *primary_email_norm != new.primary_email_norm,
        sort_name: *sort_name != new.sort_name,
        search_text: *search_text != new.search_text,
    }
}

/// A row of [`TenantStore::groups_of_users`] (its depth is an INT4 on PostgreSQL).
fn user_group_from_row<R: super::direct::DbRow>(r: &R) -> DomainResult<UserGroupRow> {
    let depth = r.get::<i64>("depth").or_else(|_| r.get::<i32>("depth").map(i64::from)).unwrap_or(1);
    Ok(UserGroupRow {
        user_id: r.get("user_id")?,
        group_id: r.get("group_id")?,
        display: r.get("display_name")?,
        direct: depth == 0,
    })
}

/// A write's error, with a taken userName as [`DomainError::UserNameTaken`] (the service
/// fills in who has it).
fn user_name_taken(e: sqlx::Error, user_name: &str) -> DomainError {
    match unique_violation(&e) {
        Some(Unique::ScimUserName) => DomainError::UserNameTaken { user_name: user_name.to_string(), existing: None },
        _ => e.into(),
    }
}

/// How many locks the users' write turns are spread over.
const USER_WRITE_STRIPES: usize = 1024;

/// Turns for this instance's SCIM writes of a user: a write holds its user's turn from reading
/// the user to its COMMIT, so that concurrent writes of one user here follow each other instead
/// of each starting from the same version, finding it changed and retrying. Without them, ten
/// simultaneous PATCHes of one user, twenty times over, were answered 409 ("try again") 106–109
/// times in 200 on SQLite (its readers see a group commit's writes only after its COMMIT, so a
/// retry read the version it had lost against until then) and 8–15 in 200 on PostgreSQL.
/// Writes through other instances are still caught by the version check and retried. One lock
/// per stripe of users (by a hash of tenant and id; two users rarely share one, and then only
/// wait for each other).
#[derive(Debug)]
pub(crate) struct UserWriteTurns {
    stripes: Box<[tokio::sync::Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for UserWriteTurns {
    fn default() -> Self {
        Self {
            stripes: (0..USER_WRITE_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl UserWriteTurns {
    /// Waits for the turn to write this user; the turn lasts as long as the guard.
    pub(crate) async fn take(&self, tenant: &str, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes[self.stripe(tenant, id)].lock().await
    }

    /// Which lock this user's turn is.
    fn stripe(&self, tenant: &str, id: &str) -> usize {
        use std::hash::BuildHasher;
        self.hasher.hash_one((tenant, id)) as usize % self.stripes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> UserColumns {
        UserColumns {
            user_name: "Ada@X.test".into(),
            user_name_norm: "ada@x.test".into(),
            external_id: Some("E-1".into()),
            display_name_norm: None,
            primary_email_norm: Some("ada@x.test".into()),
            active: true,
            sort_name: "ada lovelace".into(),
            search_text: "ada@x.test ada lovelace ada@x.test e-1".into(),
        }
    }

    fn stored(c: &UserColumns) -> StoredColumns {
        (
            c.user_name.clone(),
            c.user_name_norm.clone(),
            c.external_id.clone(),
            c.display_name_norm.clone(),
            c.primary_email_norm.clone(),
            c.sort_name.clone(),
            c.search_text.clone(),
        )
    }

    #[test]
    fn an_update_sets_only_the_indexed_columns_that_change() {
        let before = cols();
        let none = ChangedColumns {
            user_name: false,
            external_id: false,
            display_name: false,
            primary_email: false,
            sort_name: false,
            search_text: false,
        };
        // `active` and the document are always set; they have no index of their own here.
        assert_eq!(changed_columns(&stored(&before), &UserColumns { active: false, ..cols() }), none);
        // A change of case only is still a change of userName as sent.
        let renamed = UserColumns { user_name: "ADA@x.test".into(), ..cols() };
        assert_eq!(changed_columns(&stored(&before), &renamed), ChangedColumns { user_name: true, ..none });
        let moved = UserColumns { external_id: None, display_name_norm: Some("ada".into()), ..cols() };
        assert_eq!(
            changed_columns(&stored(&before), &moved),
            ChangedColumns { external_id: true, display_name: true, ..none }
        );
        let all = UserColumns {
            user_name: "b".into(),
            user_name_norm: "b".into(),
            external_id: None,
            display_name_norm: Some("b".into()),
            primary_email_norm: None,
            active: true,
            sort_name: "b".into(),
            search_text: "b".into(),
        };
        assert_eq!(changed_columns(&stored(&before), &all), ChangedColumns::ALL);
    }

    /// A write of a user waits while another write of that user holds its turn, and goes on
    /// once it ends; another tenant's user of the same id has a turn of its own (unless the two
    /// share a stripe, which this test rules out by picking a tenant that does not).
    #[tokio::test]
    async fn writes_of_one_user_take_turns() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let turns = UserWriteTurns::default();
        let held = turns.take("t1", "ada").await;
        let mut cx = Context::from_waker(Waker::noop());
        let mut second = Box::pin(turns.take("t1", "ada"));
        assert!(second.as_mut().poll(&mut cx).is_pending(), "the same user waits");
        let other = (2..100).map(|n| format!("t{n}")).find(|t| turns.stripe(t, "ada") != turns.stripe("t1", "ada"));
        let other = other.expect("a tenant on another stripe");
        let mut third = Box::pin(turns.take(&other, "ada"));
        assert!(third.as_mut().poll(&mut cx).is_ready(), "another tenant's user does not");
        drop(held);
        assert!(matches!(second.as_mut().poll(&mut cx), Poll::Ready(_)), "the turn passes on");
    }
}

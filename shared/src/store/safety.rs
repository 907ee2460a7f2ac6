//! Provisioning safety's storage: the brake's settings and its count of recent deprovisions,
//! the changes it held, and the users a soft delete keeps (see `service::safety`).

use sqlx::Row;

use super::query::data_out;
use super::tx::{with_tx, TenantTx};
use super::users::{ReadVersion, UserGroupRow};
use super::{with_pool, Backend, Store, TenantStore};
use crate::dto::{DeletePolicy, DeletedUser, HeldChange, HeldKind, SafetySettings};
use crate::error::{DomainError, DomainResult};

/// The tenant's active users, from the counts its writes keep (see `store::counts`).
const ACTIVE_USERS: &str =
    "SELECT CAST(COALESCE(SUM(users), 0) AS BIGINT) FROM user_counts WHERE tenant_id = $1 AND active";

const SETTINGS: &str = "SELECT brake_enabled, brake_percent, brake_min_users, brake_window_minutes, delete_policy, \
                        soft_delete_days FROM tenants WHERE id = $1";

fn settings_from_row<R: super::direct::DbRow>(r: &R) -> DomainResult<SafetySettings> {
    let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    Ok(SafetySettings {
        brake_enabled: r.get("brake_enabled")?,
        brake_percent: n(r.get("brake_percent")?),
        brake_min_users: n(r.get("brake_min_users")?),
        brake_window_minutes: n(r.get("brake_window_minutes")?),
        delete_policy: DeletePolicy::parse(&r.get::<String>("delete_policy")?),
        soft_delete_days: n(r.get("soft_delete_days")?),
    })
}

/// A held change with the request to replay.
#[derive(Clone, Debug)]
pub struct HeldRecord {
    /// As the dashboard shows it.
    pub change: HeldChange,
    /// The request body (PATCH, PUT); `None` for a DELETE.
    pub body: Option<String>,
}

/// Whether the tenant holds a change now (`$1`: the tenant).
const HELD_BEFORE: &str = "SELECT EXISTS (SELECT 1 FROM held_changes WHERE tenant_id = $1 AND state = 'held')";

/// Holds a change (`$1`–`$9`, see [`bind_held`]) for each row of `rows` (`VALUES (…)` of
/// [`HOLD_VALUES`], or a `SELECT` of them from a query of one row or none). A change the user
/// already has held is replaced by it: asked for again (the same kind), it keeps its id and the
/// time it was first held, and takes the new request and `last_held_at`, so that nothing indexed
/// changes (PostgreSQL updates the row in place, HOT) and an admin's decision on that id still
/// stands for it; of another kind (a delete after a deactivation), it is a new change, with a
/// new id (a decision taken on the old one no longer finds it).
fn hold_upsert(rows: &str) -> String {
    format!(
        "INSERT INTO held_changes (tenant_id, id, user_id, user_name, kind, method, body, credential_id, state, \
         created_at) {rows} \
         ON CONFLICT (tenant_id, user_id) WHERE state = 'held' DO UPDATE SET \
         id = CASE WHEN held_changes.kind = excluded.kind THEN held_changes.id ELSE excluded.id END, \
         created_at = CASE WHEN held_changes.kind = excluded.kind THEN held_changes.created_at ELSE excluded.created_at END, \
         last_held_at = CASE WHEN held_changes.kind = excluded.kind THEN excluded.created_at END, \
         user_name = excluded.user_name, kind = excluded.kind, method = excluded.method, body = excluded.body, \
         credential_id = excluded.credential_id"
    )
}

/// The values of a held change's row in [`hold_upsert`].
const HOLD_VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, 'held', $9";

/// PostgreSQL: after a CTE `u`, the user if still at the version the hold was decided on
/// (`$3` at `$10`, `$11`, see [`super::users::user_at_version_sql`]), the CTEs `before`, whether
/// the tenant held a change before (no row without `u`), and `up`, the hold (nothing without
/// `u`).
fn hold_ctes() -> String {
    format!(
        "before AS ({HELD_BEFORE} AS held FROM u), up AS ({})",
        hold_upsert(&format!("SELECT {HOLD_VALUES} FROM u"))
    )
}

/// The CTE `u` of [`hold_ctes`].
fn held_user_sql() -> String {
    super::users::user_at_version_sql("$3", "$10", "$11")
}

/// SQLite: a change asked for again, in place (`$1` tenant, `$2` user, `$3` kind, `$4` userName,
/// `$5` method, `$6` body, `$7` credential, `$8` now). SQLite rewrites the entry of every index
/// over a column an UPDATE sets, changed or not, so [`hold_upsert`]'s `id = CASE …` would
/// rewrite the primary key's entry; this sets no indexed column. No row: [`hold_upsert`].
const HOLD_AGAIN: &str = "UPDATE held_changes SET user_name = $4, method = $5, body = $6, credential_id = $7, \
     last_held_at = $8 WHERE tenant_id = $1 AND user_id = $2 AND state = 'held' AND kind = $3";

/// Users who lost access through the IdP since `$2` (`$1`: the tenant).
const DEPROVISIONS_SINCE: &str = "SELECT COUNT(*) FROM deprovisions WHERE tenant_id = $1 AND at >= $2";

/// Binds a held change's nine parameters of [`hold_upsert`] to query `$q`.
macro_rules! bind_held {
    ($q:expr, $tenant:expr, $h:expr, $now:expr) => {
        $q.bind($tenant)
            .bind($h.id)
            .bind($h.user_id)
            .bind($h.user_name)
            .bind($h.kind.as_str())
            .bind($h.method)
            .bind($h.body)
            .bind($h.credential_id)
            .bind($now)
    };
}

/// [`bind_held`], then the version the hold was decided on (`$10`, `$11` of [`hold_ctes`]'s
/// `u`).
macro_rules! bind_held_at {
    ($q:expr, $tenant:expr, $h:expr, $now:expr) => {
        bind_held!($q, $tenant, $h, $now).bind($h.version.version).bind($h.version.updated_at)
    };
}

/// A change to hold (see [`TenantTx::hold`]).
#[derive(Clone, Debug)]
pub struct NewHeld<'a> {
    /// Its id.
    pub id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// Their userName.
    pub user_name: &'a str,
    /// Deactivate or delete.
    pub kind: HeldKind,
    /// `PATCH`, `PUT`, `DELETE`.
    pub method: &'a str,
    /// The request body.
    pub body: Option<&'a str>,
    /// The credential that sent it.
    pub credential_id: Option<&'a str>,
    /// The version of the user the hold was decided on (an active user's): the change is held
    /// only while the user is still at it, else [`DomainError::Stale`] and nothing written.
    pub version: ReadVersion,
}

/// A soft-deleted user as kept.
#[derive(Clone, Debug)]
pub struct DeletedRecord {
    /// The user's id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// Where it came from (`scim`, `jit`).
    pub source: String,
    /// The resource (JSON text).
    pub data: String,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// Its user groups' ids where an admin put it.
    pub user_groups: Vec<String>,
    /// Its SCIM groups' ids.
    pub scim_groups: Vec<String>,
}

fn held_from_row<R: super::direct::DbRow>(r: &R) -> DomainResult<HeldRecord> {
    Ok(HeldRecord {
        change: HeldChange {
            id: r.get("id")?,
            user_id: r.get("user_id")?,
            user_name: r.get("user_name")?,
            kind: HeldKind::parse(&r.get::<String>("kind")?),
            method: r.get("method")?,
            created_at_ms: r.get("created_at")?,
            asked_at_ms: r.get("asked_at")?,
        },
        body: r.get("body")?,
    })
}

/// A held change's columns; `asked_at` is when the request to apply came in (a release before
/// 0035 replaced `created_at` instead of setting `last_held_at`: the later of the two).
const HELD: &str = "SELECT id, user_id, user_name, kind, method, body, created_at, \
     CASE WHEN last_held_at > created_at THEN last_held_at ELSE created_at END AS asked_at FROM held_changes";

impl TenantStore<'_> {
    /// The organization's safety settings.
    pub async fn safety_settings(&self) -> DomainResult<SafetySettings> {
        with_pool!(self.store, |p| {
            let row = sqlx::query(SETTINGS).bind(self.id.as_str()).fetch_optional(p).await?;
            row.as_ref().map(settings_from_row).transpose().map(Option::unwrap_or_default)
        })
    }

    /// The changes held now, oldest first (at most `limit`), and how many there are.
    pub async fn held_changes(&self, limit: i64) -> DomainResult<(Vec<HeldChange>, u64)> {
        let sql = format!("{HELD} WHERE tenant_id = $1 AND state = 'held' ORDER BY created_at, id LIMIT $2");
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(limit).fetch_all(p).await?;
            let (total,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM held_changes WHERE tenant_id = $1 AND state = 'held'")
                    .bind(self.id.as_str())
                    .fetch_one(p)
                    .await?;
            let changes = rows.iter().map(|r| held_from_row(r).map(|h| h.change)).collect::<DomainResult<_>>()?;
            Ok((changes, total.max(0) as u64))
        })
    }

    /// PostgreSQL, outside any transaction: when `limit` users or more lost access through the
    /// IdP since `since`, holds `h` with its activity `record` and returns whether the hold
    /// began with it, and the user's groups (for the answer, which shows the user as the IdP
    /// asked); `None` (and nothing written) when fewer did, or on SQLite;
    /// [`DomainError::Stale`] (nothing written) when the user is no longer at `h.version`. One
    /// statement: the count, the held change with its record (each only when the count is
    /// over the limit and the user at the version) and the read of the user's groups, where
    /// the write's transaction took five round trips (BEGIN, the count, the hold, the record,
    /// COMMIT), as [`TenantTx::deprovisions_since`] and [`TenantTx::hold`] do in READ COMMITTED.
    /// The version is checked by the statement, so that a write may decide on a copy of the
    /// user read earlier (see `service::provisioning`'s `write_next`) without a read of its own.
    pub async fn hold_when_over(
        &self,
        h: &NewHeld<'_>,
        since: i64,
        limit: u64,
        record: &crate::store::NewActivity,
        now_ms: i64,
    ) -> DomainResult<Option<(bool, Vec<UserGroupRow>)>> {
        let Some(conns) = self.store.pg_conns.as_ref() else { return Ok(None) };
        use super::activity::{bind_activity, ACTIVITY_COLUMNS};
        let tenant = self.id.as_str();
        // The count's bound is a sub-select: compared with the parameter itself, the count made
        // PostgreSQL plan the statement again at every call (a custom plan for each `since`
        // looked cheaper than the generic one: 0.18 ms of planning for 0.22 ms of execution);
        // behind the sub-select both cost the same and the generic plan is kept (48 plans in
        // 8,869 calls, `pg_stat_statements`).
        let sql = super::users::groups_after_sql(
            &format!("{} AND (SELECT n FROM gone) >= $29", held_user_sql()),
            &format!(
                "gone AS (SELECT COUNT(*) AS n FROM deprovisions WHERE tenant_id = $1 AND at >= (SELECT $28::bigint)), \
                 {}, rec AS (INSERT INTO activity ({ACTIVITY_COLUMNS}) SELECT $12, $13, $14, $15, $16, $17, $18, \
                     $19, $20, $21, $22, $23, $24, $25, $26, $27 FROM u), ",
                hold_ctes()
            ),
            "gone LEFT JOIN before ON 1 = 1",
            "gone.n AS gone, before.held",
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = super::with_pg_conn!(conns, |c| {
            let q = bind_held_at!(sqlx::query(&sql), tenant, h, now_ms);
            bind_activity!(q, tenant, record).bind(since).bind(limit).fetch_all(&mut *c).await?
        });
        let Some(first) = rows.first() else {
            return Err(DomainError::Internal("the hold's statement returned no row".into()));
        };
        match first.try_get::<Option<bool>, _>("held")? {
            Some(before) => Ok(Some((!before, super::users::groups_from_rows(h.user_id, &rows)?))),
            // Nothing held: under the limit, or the user is no longer at the version.
            None if first.try_get::<i64, _>("gone")? < limit => Ok(None),
            None => Err(DomainError::Stale),
        }
    }

    /// Users who lost access through the IdP since `since` (epoch ms).
    pub async fn deprovisioned_since(&self, since: i64) -> DomainResult<u64> {
        with_pool!(self.store, |p| {
            let (n,): (i64,) =
                sqlx::query_as(DEPROVISIONS_SINCE).bind(self.id.as_str()).bind(since).fetch_one(p).await?;
            Ok(n.max(0) as u64)
        })
    }

    /// Active users now.
    pub async fn active_users(&self) -> DomainResult<u64> {
        with_pool!(self.store, |p| {
            let (n,): (i64,) = sqlx::query_as(ACTIVE_USERS).bind(self.id.as_str()).fetch_one(p).await?;
            Ok(n.max(0) as u64)
        })
    }

    /// Soft-deleted users, most recently deleted first (at most `limit`).
    pub async fn deleted_users(&self, limit: i64) -> DomainResult<Vec<DeletedUser>> {
        let sql = format!(
            "SELECT t.id, t.user_name, {}, t.deleted_at, t.purge_at FROM deleted_users t WHERE t.tenant_id = $1 \
             ORDER BY t.deleted_at DESC, t.id LIMIT $2",
            data_out(self.store.backend())
        );
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(limit).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    let data: String = r.try_get("data")?;
                    let display_name = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v.get("displayName").and_then(|d| d.as_str()).map(str::to_string));
                    Ok(DeletedUser {
                        id: r.try_get("id")?,
                        user_name: r.try_get("user_name")?,
                        display_name,
                        deleted_at_ms: r.try_get("deleted_at")?,
                        purge_at_ms: r.try_get("purge_at")?,
                    })
                })
                .collect()
        })
    }
}

/// A manual user as the adoption view reads it.
#[derive(Clone, Debug)]
pub struct ManualForAdoption {
    /// id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// Folded userName.
    pub user_name_norm: String,
    /// Folded primary email.
    pub email_norm: Option<String>,
    /// externalId.
    pub external_id: Option<String>,
    /// Its adoption mark.
    pub adopt_key: Option<String>,
}

impl TenantStore<'_> {
    /// Manual users (at most `limit`), by userName.
    pub async fn manual_users_for_adoption(&self, limit: i64) -> DomainResult<Vec<ManualForAdoption>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT id, user_name, user_name_norm, primary_email_norm, external_id, adopt_key FROM scim_users \
                 WHERE tenant_id = $1 AND source = 'manual' ORDER BY user_name_norm LIMIT $2",
            )
            .bind(self.id.as_str())
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(ManualForAdoption {
                        id: r.try_get("id")?,
                        user_name: r.try_get("user_name")?,
                        user_name_norm: r.try_get("user_name_norm")?,
                        email_norm: r.try_get("primary_email_norm")?,
                        external_id: r.try_get("external_id")?,
                        adopt_key: r.try_get("adopt_key")?,
                    })
                })
                .collect()
        })
    }

    /// Users from the IdP (SCIM or just in time) whose `column` (`user_name_norm`,
    /// `primary_email_norm`, `external_id`) is one of `values`: (value, their userName).
    pub async fn idp_users_with(&self, column: &str, values: &[String]) -> DomainResult<Vec<(String, String)>> {
        let column = match column {
            "user_name_norm" | "primary_email_norm" | "external_id" => column,
            _ => return Ok(Vec::new()),
        };
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT {column}, user_name FROM scim_users WHERE tenant_id = $1 AND source <> 'manual' AND {column} IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(String, String)> = with_pool!(self.store, |p| {
                let mut q = sqlx::query_as(&sql).bind(self.id.as_str());
                for v in chunk {
                    q = q.bind(v);
                }
                q.fetch_all(p).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The IdP's creates of users refused with 409 since `since`: (when, the request body).
    pub async fn refused_creates(&self, since: i64, limit: i64) -> DomainResult<Vec<(i64, String)>> {
        with_pool!(self.store, |p| {
            let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
                "SELECT at, request_body FROM activity WHERE tenant_id = $1 AND at >= $2 AND actor = 'scim' \
                 AND method = 'POST' AND status = 409 AND resource_type = 'User' ORDER BY at DESC LIMIT $3",
            )
            .bind(self.id.as_str())
            .bind(since)
            .bind(limit)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().filter_map(|(at, b)| b.map(|b| (at, b))).collect())
        })
    }

    /// What a SCIM create may adopt instead (one read): the users with its `external_id` (at
    /// most two: only one is adopted, if it came just in time), and the adoptable manual users
    /// matching any of its `keys` (at most two: two are ambiguous).
    ///
    /// No order and no `IN` list: SQLite sorts in a temporary b-tree and keeps an `IN` list's
    /// values in another, each a database opened and closed per statement, which was a third of
    /// this read's cost on every create (two are enough to tell one match from several, and a
    /// user has one mark, so one probe per key finds each match once).
    pub async fn adoption_candidates(
        &self,
        external_id: Option<&str>,
        keys: &[String],
    ) -> DomainResult<(Vec<super::UserRow>, Vec<super::UserRow>)> {
        let backend = self.store.backend();
        let select = super::users::user_select(backend);
        let mut parts = Vec::new();
        let mut n = 2;
        if external_id.is_some() {
            parts.push(format!(
                "SELECT 'ext' AS kind, x.* FROM ({select} WHERE t.tenant_id = $1 AND t.external_id = $2 LIMIT 2) x"
            ));
            n = 3;
        }
        if !keys.is_empty() {
            let probes: Vec<String> = (n..n + keys.len())
                .map(|i| format!("{select} WHERE t.tenant_id = $1 AND t.adopt_key = ${i} AND t.source = 'manual'"))
                .collect();
            parts.push(format!("SELECT 'mark' AS kind, y.* FROM ({} LIMIT 2) y", probes.join(" UNION ALL ")));
        }
        if parts.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let sql = parts.join(" UNION ALL ");
        super::with_read!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            if let Some(ext) = external_id {
                q = q.bind(ext);
            }
            for k in keys {
                q = q.bind(k);
            }
            let (mut same, mut marked) = (Vec::new(), Vec::new());
            for row in q.fetch_all(p).await? {
                let kind: String = row.try_get("kind")?;
                let user = super::users::user_from_row(&row)?;
                if kind == "ext" {
                    same.push(user)
                } else {
                    marked.push(user)
                }
            }
            Ok((same, marked))
        })
    }

    /// A user's adoption mark.
    pub async fn adopt_key(&self, user_id: &str) -> DomainResult<Option<String>> {
        with_pool!(self.store, |p| {
            let row: Option<(Option<String>,)> =
                sqlx::query_as("SELECT adopt_key FROM scim_users WHERE tenant_id = $1 AND id = $2")
                    .bind(self.id.as_str())
                    .bind(user_id)
                    .fetch_optional(p)
                    .await?;
            Ok(row.and_then(|(k,)| k))
        })
    }

    /// The change the brake holds for a user, if any.
    pub async fn held_change_of(&self, user_id: &str) -> DomainResult<Option<HeldChange>> {
        let sql = format!("{HELD} WHERE tenant_id = $1 AND user_id = $2 AND state = 'held' LIMIT 1");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(user_id).fetch_optional(p).await?;
            row.as_ref().map(|r| held_from_row(r).map(|h| h.change)).transpose()
        })
    }
}

impl TenantTx<'_> {
    /// Sets (or clears) manual users' adoption marks; returns how many changed.
    pub async fn set_adopt_keys(&mut self, marks: &[(String, Option<String>)]) -> DomainResult<u64> {
        let tenant = self.id.as_str();
        let mut n = 0;
        for (id, key) in marks {
            n += with_tx!(self, |c| sqlx::query(
                "UPDATE scim_users SET adopt_key = $1 WHERE tenant_id = $2 AND id = $3 AND source = 'manual'"
            )
            .bind(key)
            .bind(tenant)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(n)
    }

    /// The settings, as cached (see [`super::cache`]) or read inside the transaction.
    pub async fn safety_settings(&mut self) -> DomainResult<SafetySettings> {
        let cache = self.store.cache.clone();
        let tenant = self.id.as_str();
        if let Some(s) = cache.safety(tenant) {
            return Ok(s);
        }
        let epoch = cache.epoch();
        let s = with_tx!(self, |c| {
            let row = sqlx::query(SETTINGS).bind(tenant).fetch_optional(c).await?;
            row.as_ref().map(settings_from_row).transpose().map(Option::unwrap_or_default)
        })?;
        cache.put_safety(epoch, tenant, &s);
        Ok(s)
    }

    /// Writes the settings.
    pub async fn set_safety_settings(&mut self, s: &SafetySettings, now_ms: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            sqlx::query(
            "UPDATE tenants SET brake_enabled = $1, brake_percent = $2, brake_min_users = $3, brake_window_minutes = $4, \
             delete_policy = $5, soft_delete_days = $6, updated_at = $7 WHERE id = $8"
        )
        .bind(s.brake_enabled)
        .bind(i64::from(s.brake_percent))
        .bind(i64::from(s.brake_min_users))
        .bind(i64::from(s.brake_window_minutes))
        .bind(s.delete_policy.as_str())
        .bind(i64::from(s.soft_delete_days))
        .bind(now_ms)
        .bind(tenant)
        .execute(c)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Takes the tenant's brake lock for the rest of the transaction: deprovisioning writes of
    /// one tenant count and write one after another (PostgreSQL: an advisory lock; SQLite: the
    /// transaction already holds the write lock). Returns whether it took one (what was read
    /// before may have changed meanwhile).
    pub async fn lock_brake(&mut self) -> DomainResult<bool> {
        if let super::tx::TxConn::PostgresTx(t) = &mut self.conn {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("roster:brake:{}", self.id))
                .execute(&mut **t)
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Users who lost access through the IdP since `since`.
    pub async fn deprovisions_since(&mut self, since: i64) -> DomainResult<u64> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            let (gone,): (i64,) =
                sqlx::query_as(DEPROVISIONS_SINCE).bind(tenant).bind(since).fetch_one(&mut *c).await?;
            DomainResult::Ok(gone.max(0) as u64)
        })
    }

    /// How many of the tenant's users are active.
    pub async fn active_users(&mut self) -> DomainResult<u64> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            let (active,): (i64,) = sqlx::query_as(ACTIVE_USERS).bind(tenant).fetch_one(&mut *c).await?;
            DomainResult::Ok(active.max(0) as u64)
        })
    }

    /// Counts a user's loss of access (for the brake's window).
    pub async fn record_deprovision(&mut self, user_id: &str, now_ms: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| sqlx::query("INSERT INTO deprovisions (tenant_id, user_id, at) VALUES ($1, $2, $3)")
            .bind(tenant)
            .bind(user_id)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Holds a change; a change already held for the user is replaced by it (the latest
    /// request is the one to apply: a user has one held change at most, a unique index says so
    /// also to held writes that do not wait for each other, see `service::safety::admit`), in
    /// place when it is of the same kind (see [`hold_upsert`]). Returns whether nothing was
    /// held before (the hold began); [`DomainError::Stale`] (nothing written) when the user is
    /// no longer at `h.version`.
    pub async fn hold(&mut self, h: &NewHeld<'_>, now_ms: i64) -> DomainResult<bool> {
        let tenant = self.id.as_str();
        // PostgreSQL: one statement (the EXISTS sees the table as it was before the upsert).
        let together = (self.backend() == Backend::Postgres)
            .then(|| format!("WITH u AS ({}), {} SELECT held FROM before", held_user_sql(), hold_ctes()));
        with_tx!(self, |c| {
            let before = match &together {
                // No row: the user is not at the version (`before` selects from `u`).
                Some(sql) => {
                    bind_held_at!(sqlx::query_as::<_, (bool,)>(sql), tenant, h, now_ms)
                        .fetch_optional(&mut *c)
                        .await?
                        .ok_or(DomainError::Stale)?
                        .0
                }
                None => {
                    // Whether the user (`$2`) is at the version (`$3`, `$4`).
                    let at_version = format!("SELECT EXISTS ({})", super::users::user_at_version_sql("$2", "$3", "$4"));
                    let (at,): (bool,) = sqlx::query_as(&at_version)
                        .bind(tenant)
                        .bind(h.user_id)
                        .bind(h.version.version)
                        .bind(h.version.updated_at)
                        .fetch_one(&mut *c)
                        .await?;
                    if !at {
                        return Err(DomainError::Stale);
                    }
                    let again = sqlx::query(HOLD_AGAIN)
                        .bind(tenant)
                        .bind(h.user_id)
                        .bind(h.kind.as_str())
                        .bind(h.user_name)
                        .bind(h.method)
                        .bind(h.body)
                        .bind(h.credential_id)
                        .bind(now_ms)
                        .execute(&mut *c)
                        .await?;
                    if again.rows_affected() > 0 {
                        // The user's change was held: so was one of the tenant's.
                        true
                    } else {
                        let (before,): (bool,) = sqlx::query_as(HELD_BEFORE).bind(tenant).fetch_one(&mut *c).await?;
                        let upsert = hold_upsert(&format!("VALUES ({HOLD_VALUES})"));
                        bind_held!(sqlx::query(&upsert), tenant, h, now_ms).execute(&mut *c).await?;
                        before
                    }
                }
            };
            DomainResult::Ok(!before)
        })
    }

    /// Held changes by id (all held ones when `ids` is `None`), oldest first, locked for the
    /// decision where the backend can.
    pub async fn held(&mut self, ids: Option<&[String]>) -> DomainResult<Vec<HeldRecord>> {
        let tenant = self.id.as_str();
        let lock = if self.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
        let sql = format!("{HELD} WHERE tenant_id = $1 AND state = 'held' ORDER BY created_at, id{lock}");
        let all = with_tx!(self, |c| {
            let rows = sqlx::query(&sql).bind(tenant).fetch_all(c).await?;
            rows.iter().map(held_from_row).collect::<DomainResult<Vec<_>>>()
        })?;
        Ok(match ids {
            None => all,
            Some(ids) => all.into_iter().filter(|h| ids.contains(&h.change.id)).collect(),
        })
    }

    /// Records what became of a held change.
    pub async fn decide_held(
        &mut self,
        id: &str,
        state: &str,
        by: &str,
        note: Option<&str>,
        now_ms: i64,
    ) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| sqlx::query(
            "UPDATE held_changes SET state = $1, decided_by = $2, note = $3, decided_at = $4 \
             WHERE tenant_id = $5 AND id = $6 AND state = 'held'"
        )
        .bind(state)
        .bind(by)
        .bind(note)
        .bind(now_ms)
        .bind(tenant)
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Keeps a user (row and memberships) in `deleted_users` until `purge_at`; the caller then
    /// deletes the user.
    pub async fn keep_deleted_user(&mut self, id: &str, purge_at: i64, now_ms: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        let data_sql = format!(
            "SELECT t.user_name, t.source, {}, t.created_at FROM scim_users t WHERE t.tenant_id = $1 AND t.id = $2",
            data_out(self.backend())
        );
        with_tx!(self, |c| {
            let Some(row) = sqlx::query(&data_sql).bind(tenant).bind(id).fetch_optional(&mut *c).await? else {
                return Ok(());
            };
            let user_groups: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT group_id FROM user_group_members WHERE tenant_id = $1 AND user_id = $2 AND reason = 'admin'",
            )
            .bind(tenant)
            .bind(id)
            .fetch_all(&mut *c)
            .await?;
            let scim_groups: Vec<(String,)> =
                sqlx::query_as("SELECT group_id FROM scim_group_members WHERE tenant_id = $1 AND member_id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_all(&mut *c)
                    .await?;
            let list = |v: Vec<(String,)>| {
                serde_json::to_string(&v.into_iter().map(|(g,)| g).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
            };
            sqlx::query("DELETE FROM deleted_users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "INSERT INTO deleted_users (tenant_id, id, user_name, source, data, created_at, user_groups, scim_groups, deleted_at, purge_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(tenant)
            .bind(id)
            .bind(row.try_get::<String, _>("user_name")?)
            .bind(row.try_get::<String, _>("source")?)
            .bind(row.try_get::<String, _>("data")?)
            .bind(row.try_get::<i64, _>("created_at")?)
            .bind(list(user_groups))
            .bind(list(scim_groups))
            .bind(now_ms)
            .bind(purge_at)
            .execute(&mut *c)
            .await?;
            DomainResult::Ok(())
        })
    }

    /// Takes a soft-deleted user out of `deleted_users` (to restore it).
    pub async fn take_deleted_user(&mut self, id: &str) -> DomainResult<Option<DeletedRecord>> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            let row = sqlx::query(
                "SELECT id, user_name, source, data, created_at, user_groups, scim_groups FROM deleted_users \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
            let Some(r) = row else { return Ok(None) };
            sqlx::query("DELETE FROM deleted_users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *c)
                .await?;
            let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
            DomainResult::Ok(Some(DeletedRecord {
                id: r.try_get("id")?,
                user_name: r.try_get("user_name")?,
                source: r.try_get("source")?,
                data: r.try_get("data")?,
                created_at: r.try_get("created_at")?,
                user_groups: list(r.try_get("user_groups")?),
                scim_groups: list(r.try_get("scim_groups")?),
            }))
        })
    }

    /// Puts a restored user back in the groups it was in that still exist; keeps its creation
    /// time.
    pub async fn restore_memberships(&mut self, d: &DeletedRecord, by: &str, now_ms: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            sqlx::query("UPDATE scim_users SET created_at = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(d.created_at)
                .bind(tenant)
                .bind(&d.id)
                .execute(&mut *c)
                .await?;
            // The IdP's deletion refused their SSO identities; an admin's restore lets them in.
            sqlx::query("UPDATE sso_identities SET deprovisioned_at = NULL WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant)
                .bind(&d.id)
                .execute(&mut *c)
                .await?;
            for g in &d.user_groups {
                sqlx::query(
                    "INSERT INTO user_group_members (tenant_id, group_id, user_id, reason, rule_id, added_by, added_at) \
                     SELECT $1, id, $3, 'admin', '', $4, $5 FROM user_groups WHERE tenant_id = $1 AND id = $2 \
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(g)
                .bind(&d.id)
                .bind(by)
                .bind(now_ms)
                .execute(&mut *c)
                .await?;
            }
            for g in &d.scim_groups {
                sqlx::query(
                    "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_type, added_at) \
                     SELECT $1, id, $3, 'User', $4 FROM scim_groups WHERE tenant_id = $1 AND id = $2 \
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(g)
                .bind(&d.id)
                .bind(now_ms)
                .execute(&mut *c)
                .await?;
            }
            DomainResult::Ok(())
        })
    }
}

impl Store {
    /// Purges soft-deleted users whose time is up and brake records older than `before` (at
    /// most `limit` rows each); returns how many rows went.
    pub async fn purge_safety(&self, now_ms: i64, deprovisions_before: i64, limit: i64) -> DomainResult<u64> {
        let sqls = match self.backend() {
            Backend::Sqlite => [
                "DELETE FROM deleted_users WHERE rowid IN (SELECT rowid FROM deleted_users WHERE purge_at < $1 LIMIT $2)",
                "DELETE FROM deprovisions WHERE rowid IN (SELECT rowid FROM deprovisions WHERE at < $1 LIMIT $2)",
            ],
            // `= ANY(ARRAY(…))`, not `IN (SELECT …)`: see `Store::purge_batch`.
            Backend::Postgres => [
                "DELETE FROM deleted_users WHERE ctid = ANY(ARRAY(SELECT ctid FROM deleted_users WHERE purge_at < $1 LIMIT $2))",
                "DELETE FROM deprovisions WHERE ctid = ANY(ARRAY(SELECT ctid FROM deprovisions WHERE at < $1 LIMIT $2))",
            ],
        };
        let mut n = 0;
        for (sql, before) in sqls.into_iter().zip([now_ms, deprovisions_before]) {
            n += with_pool!(self, |p| sqlx::query(sql).bind(before).bind(limit).execute(p).await?.rows_affected());
        }
        Ok(n)
    }
}

/// A user group's seats as a placement sees them (see [`TenantTx::seat_usage`]).
#[derive(Clone, Debug, Default)]
pub struct SeatUsage {
    /// Distinct users in each group.
    pub used: std::collections::HashMap<String, i64>,
    /// Membership rows of each (group, user) among the users asked about.
    pub rows: std::collections::HashMap<(String, String), i64>,
}

/// A placement the seat limit refused, as the user's page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalRecord {
    /// The group.
    pub group_id: String,
    /// Its name.
    pub group_name: String,
    /// Why, in words.
    pub reason: String,
    /// Since when (epoch ms).
    pub at: i64,
}

impl TenantTx<'_> {
    /// The tenant's user groups with a seat limit: id → (name, limit).
    pub async fn seat_limits(&mut self) -> DomainResult<std::collections::HashMap<String, (String, i64)>> {
        let tenant = self.id.as_str();
        let rows: Vec<(String, String, i64)> = with_tx!(self, |c| sqlx::query_as(
            "SELECT id, name, seat_limit FROM user_groups WHERE tenant_id = $1 AND seat_limit IS NOT NULL"
        )
        .bind(tenant)
        .fetch_all(c)
        .await)?;
        Ok(rows.into_iter().map(|(id, name, limit)| (id, (name, limit))).collect())
    }

    /// How many distinct users each of `groups` has (as the writes keep it, in this
    /// transaction: migration 0029), and how many membership rows each of `users` has in each
    /// of them.
    pub async fn seat_usage(&mut self, groups: &[String], users: &[String]) -> DomainResult<SeatUsage> {
        let tenant = self.id.as_str();
        let mut usage = SeatUsage::default();
        let size =
            format!("SELECT {} FROM user_group_sizes WHERE tenant_id = $1 AND group_id = $2", super::counts::KEPT_SUM);
        for g in groups {
            let (n,): (i64,) = with_tx!(self, |c| sqlx::query_as(&size).bind(tenant).bind(g).fetch_one(c).await)?;
            usage.used.insert(g.clone(), n);
        }
        for chunk in users.chunks(500) {
            let sql = format!(
                "SELECT group_id, user_id, COUNT(*) FROM user_group_members WHERE tenant_id = $1 AND user_id IN ({}) \
                 GROUP BY group_id, user_id",
                super::placeholders(2, chunk.len())
            );
            let rows: Vec<(String, String, i64)> = with_tx!(self, |c| {
                let mut q = sqlx::query_as(&sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                q.fetch_all(c).await
            })?;
            for (g, u, n) in rows {
                if groups.contains(&g) {
                    usage.rows.insert((g, u), n);
                }
            }
        }
        Ok(usage)
    }

    /// Records the refused placements of `users` (those of `refused`, (user, group, reason)),
    /// replacing what was recorded for them; returns those that are new.
    pub async fn replace_refusals(
        &mut self,
        users: &[String],
        refused: &[(String, String, String)],
        now_ms: i64,
    ) -> DomainResult<Vec<(String, String, String)>> {
        let tenant = self.id.as_str();
        let mut before: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
        for chunk in users.chunks(500) {
            let list = super::placeholders(2, chunk.len());
            let select = format!(
                "SELECT user_id, group_id FROM placement_refusals WHERE tenant_id = $1 AND user_id IN ({list})"
            );
            let delete = format!("DELETE FROM placement_refusals WHERE tenant_id = $1 AND user_id IN ({list})");
            let rows: Vec<(String, String)> = with_tx!(self, |c| {
                let mut q = sqlx::query_as(&select).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                let rows = q.fetch_all(&mut *c).await?;
                let mut d = sqlx::query(&delete).bind(tenant);
                for u in chunk {
                    d = d.bind(u);
                }
                d.execute(&mut *c).await?;
                DomainResult::Ok(rows)
            })?;
            before.extend(rows);
        }
        self.add_refusals(refused, now_ms).await?;
        Ok(refused.iter().filter(|(u, g, _)| !before.contains(&(u.clone(), g.clone()))).cloned().collect())
    }

    /// Records refused placements (an admin's assignment into a full group), keeping others.
    pub async fn add_refusals(&mut self, refused: &[(String, String, String)], now_ms: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        for (user, group, reason) in refused {
            with_tx!(self, |c| {
                sqlx::query(
                "INSERT INTO placement_refusals (tenant_id, user_id, group_id, reason, at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING"
            )
            .bind(tenant)
            .bind(user)
            .bind(group)
            .bind(reason)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Forgets the refused placements of `users` in a group (they are in it now).
    pub async fn clear_refusals(&mut self, group_id: &str, users: &[String]) -> DomainResult<()> {
        let tenant = self.id.as_str();
        for chunk in users.chunks(500) {
            let sql = format!(
                "DELETE FROM placement_refusals WHERE tenant_id = $1 AND group_id = $2 AND user_id IN ({})",
                super::placeholders(3, chunk.len())
            );
            with_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(tenant).bind(group_id);
                for u in chunk {
                    q = q.bind(u);
                }
                q.execute(c).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Sets a user group's seat limit (`None`: none) and forgets its refusals (the next
    /// placement decides again).
    pub async fn set_seat_limit(&mut self, group_id: &str, limit: Option<i64>, now_ms: i64) -> DomainResult<bool> {
        let tenant = self.id.as_str();
        let n = with_tx!(self, |c| {
            let n =
                sqlx::query("UPDATE user_groups SET seat_limit = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
                    .bind(limit)
                    .bind(now_ms)
                    .bind(tenant)
                    .bind(group_id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM placement_refusals WHERE tenant_id = $1 AND group_id = $2")
                .bind(tenant)
                .bind(group_id)
                .execute(&mut *c)
                .await?;
            DomainResult::Ok(n)
        })?;
        Ok(n > 0)
    }
}

impl TenantStore<'_> {
    /// A user's refused placements.
    pub async fn refusals_of(&self, user_id: &str) -> DomainResult<Vec<RefusalRecord>> {
        with_pool!(self.store, |p| {
            let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                "SELECT r.group_id, g.name, r.reason, r.at FROM placement_refusals r \
                 JOIN user_groups g ON g.tenant_id = r.tenant_id AND g.id = r.group_id \
                 WHERE r.tenant_id = $1 AND r.user_id = $2 ORDER BY g.name_norm",
            )
            .bind(self.id.as_str())
            .bind(user_id)
            .fetch_all(p)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(group_id, group_name, reason, at)| RefusalRecord { group_id, group_name, reason, at })
                .collect())
        })
    }
}

//! The activity log: one row per SCIM request (and, later, per admin and support action).

use sqlx::Row;

use super::tx::{with_conn, TenantTx, TxConn};
use super::{with_pool, Backend, TenantStore};
use crate::dto::{ActivityQuery, ActivityView};
use crate::error::DomainResult;

const VIEW_COLUMNS: &str =
    "a.id, a.at, a.actor, a.actor_name, a.credential_id, a.method, a.path, a.status, a.latency_ms, \
     a.resource_type, a.resource_id, a.summary, a.scim_type, a.detail, a.user_agent";
/// Lists leave the request body out (it can be large); one record's page reads it.
const NO_BODY: &str = "NULL AS request_body";

fn view_from_row<R>(r: &R) -> DomainResult<ActivityView>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ActivityView {
        id: r.try_get("id")?,
        at_ms: r.try_get("at")?,
        actor: r.try_get("actor")?,
        actor_name: r.try_get("actor_name")?,
        credential_id: r.try_get("credential_id")?,
        method: r.try_get("method")?,
        path: r.try_get("path")?,
        status: r.try_get("status")?,
        latency_ms: r.try_get("latency_ms")?,
        resource_type: r.try_get("resource_type")?,
        resource_id: r.try_get("resource_id")?,
        summary: r.try_get("summary")?,
        scim_type: r.try_get("scim_type")?,
        detail: r.try_get("detail")?,
        user_agent: r.try_get("user_agent")?,
        request_body: r.try_get("request_body")?,
    })
}

/// SCIM traffic counts since a moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficCounts {
    /// The last SCIM request ever (epoch ms).
    pub last_at: Option<i64>,
    /// Requests since the moment.
    pub requests: i64,
    /// Of which failed.
    pub errors: i64,
}

/// One activity record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewActivity {
    /// Epoch ms.
    pub at: i64,
    /// `scim`, `admin`, `support` or `system`.
    pub actor: String,
    /// The SCIM credential used, if any.
    pub credential_id: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Request path (no query string: filters may hold personal data).
    pub path: Option<String>,
    /// HTTP status.
    pub status: Option<i32>,
    /// Latency in ms.
    pub latency_ms: Option<i32>,
    /// `User`, `Group`, …
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// One line, such as `replace active`.
    pub summary: String,
    /// The SCIM error type, on errors.
    pub scim_type: Option<String>,
    /// The error detail, on errors.
    pub detail: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// Who acted (an admin's or support person's email) for `admin` and `support` records.
    pub actor_name: Option<String>,
    /// The SCIM request's body, secrets removed and capped (see `activity::redacted_body`).
    pub request_body: Option<String>,
}

impl super::Store {
    /// Deletes what has expired by `now_ms`, in all tenants: OAuth access tokens past their
    /// expiry (each grant adds one) and sign-up records past the sign-up throttling window.
    /// Returns how many rows went.
    pub async fn purge_expired(&self, now_ms: i64) -> DomainResult<u64> {
        let window = crate::service::accounts::SIGN_UP_WINDOW_MS;
        let n = with_pool!(self, |p| {
            let tokens = sqlx::query(
                "DELETE FROM scim_credentials WHERE kind = 'bearer' AND created_by LIKE 'oauth:%' AND expires_at < $1",
            )
            .bind(now_ms)
            .execute(p)
            .await?
            .rows_affected();
            let sign_ups = sqlx::query("DELETE FROM sign_ups WHERE at < $1")
                .bind(now_ms - window)
                .execute(p)
                .await?
                .rows_affected();
            Ok::<u64, sqlx::Error>(tokens + sign_ups)
        })?;
        Ok(n)
    }

    /// Deletes activity records older than `before_ms`, in all tenants, and the SCIM traffic's
    /// minutes before it; returns how many records.
    pub async fn delete_activity_before(&self, before_ms: i64) -> DomainResult<u64> {
        let n = with_pool!(self, |p| {
            sqlx::query("DELETE FROM scim_traffic WHERE minute_at < $1").bind(before_ms).execute(p).await?;
            sqlx::query("DELETE FROM activity WHERE at < $1")
                .bind(before_ms)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}

impl super::Store {
    /// Appends records of any tenants in one transaction.
    pub async fn insert_activity(&self, records: &[(crate::ids::TenantId, NewActivity)]) -> DomainResult<()> {
        // Their requests were answered already, and nobody waits for them: no sync of their own
        // (the next synced commit syncs them, see `TxConn::begin_unsynced`).
        let mut conn = TxConn::begin_unsynced(self).await?;
        let rows: Vec<(&str, &NewActivity)> = records.iter().map(|(t, a)| (t.as_str(), a)).collect();
        write_activity(&mut conn, &rows).await?;
        conn.commit().await
    }
}

/// The most records [`super::Store::move_activity_by_resource`] moves in one transaction.
pub const MOVE_BATCH: i64 = 2_000;

impl super::Store {
    /// SQLite: moves the first [`MOVE_BATCH`] records of `activity_by_resource_pending`, in key
    /// order, into `activity_by_resource` (migration 0038 says why: the more records of one
    /// resource a move carries, the fewer pages it writes for each); returns how many (0:
    /// nothing was pending). Derived data: its COMMIT need not sync (lost, the records are
    /// still pending and moved again). PostgreSQL indexes the records itself: nothing to do.
    pub async fn move_activity_by_resource(&self) -> DomainResult<u64> {
        if self.backend() != Backend::Sqlite {
            return Ok(0);
        }
        // Read first, without the writer's turn: an idle server takes no write lock for nothing.
        let pending = with_pool!(self, |p| {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM activity_by_resource_pending)")
                .fetch_one(p)
                .await
        })?;
        if !pending {
            return Ok(0);
        }
        let mut conn = TxConn::begin_unsynced(self).await?;
        // The same rows twice: the order is total (the key ends with the record's id), and
        // nothing else writes in between (the transaction holds the write lock).
        let moved = with_conn!(&mut conn, |c| {
            sqlx::query(
                "INSERT OR IGNORE INTO activity_by_resource (tenant_id, resource_id, at, id) \
                 SELECT tenant_id, resource_id, at, id FROM activity_by_resource_pending \
                 ORDER BY tenant_id, resource_id, at, id LIMIT $1",
            )
            .bind(MOVE_BATCH)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "DELETE FROM activity_by_resource_pending WHERE id IN (SELECT id FROM activity_by_resource_pending \
                 ORDER BY tenant_id, resource_id, at, id LIMIT $1)",
            )
            .bind(MOVE_BATCH)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        conn.commit().await?;
        Ok(moved)
    }
}

impl TenantTx<'_> {
    /// Appends activity records of this tenant (with the change they describe, when in a
    /// transaction).
    pub async fn record_activity(&mut self, records: &[NewActivity]) -> DomainResult<()> {
        let tenant = self.id.as_str();
        let rows: Vec<(&str, &NewActivity)> = records.iter().map(|a| (tenant, a)).collect();
        write_activity(&mut self.conn, &rows).await
    }
}

/// The columns of an activity record, in the order [`bind_activity`] binds them.
pub(crate) const ACTIVITY_COLUMNS: &str = "tenant_id, at, actor, credential_id, method, path, status, latency_ms, \
     resource_type, resource_id, summary, scim_type, detail, user_agent, actor_name, request_body";

/// Binds an activity record's [`ACTIVITY_COLUMNS`] (16 parameters) to query `$q`.
macro_rules! bind_activity {
    ($q:expr, $tenant:expr, $a:expr) => {
        $q.bind($tenant)
            .bind($a.at)
            .bind(&$a.actor)
            .bind(&$a.credential_id)
            .bind(&$a.method)
            .bind(&$a.path)
            .bind($a.status)
            .bind($a.latency_ms)
            .bind(&$a.resource_type)
            .bind(&$a.resource_id)
            .bind(&$a.summary)
            .bind(&$a.scim_type)
            .bind(&$a.detail)
            .bind(&$a.user_agent)
            .bind(&$a.actor_name)
            .bind(&$a.request_body)
    };
}
pub(crate) use bind_activity;

/// Inserts activity records ((tenant, record)) on `conn`, 200 rows a statement, and counts the
/// SCIM requests among them in [`count_traffic`].
async fn write_activity(conn: &mut TxConn, records: &[(&str, &NewActivity)]) -> DomainResult<()> {
    const COLUMNS: usize = 16;
    let anonymous = conn.anonymous_params();
    for chunk in records.chunks(200) {
        let mut sql = format!("INSERT INTO activity ({ACTIVITY_COLUMNS}) VALUES ");
        sql.push_str(&super::value_rows(chunk.len(), COLUMNS, anonymous));
        with_conn!(&mut *conn, |c| {
            let mut q = sqlx::query(&sql);
            for (tenant, a) in chunk {
                q = bind_activity!(q, *tenant, a);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    count_traffic(conn, records).await
}

/// A minute of SCIM traffic (`scim_traffic`, migration 0036): its first millisecond.
fn minute_of(at: i64) -> i64 {
    at - at.rem_euclid(MINUTE_MS)
}

const MINUTE_MS: i64 = 60_000;

/// A failed SCIM request, as the traffic counts see it: answered 400 or more, but not a `GET`
/// answered 404 (IdPs look up users that were deleted meanwhile, as a matter of course, and
/// counting those made healthy tenants look failing). Migration 0036 counts the records it
/// found by the same rule.
fn failed(a: &NewActivity) -> bool {
    a.status.is_some_and(|s| s >= 400) && !(a.method.as_deref() == Some("GET") && a.status == Some(404))
}

/// Adds the SCIM requests among `records` to their tenants' minutes of `scim_traffic`, in the
/// same transaction: one row per tenant and minute, whatever the records' count (the activity
/// writer's batch of hundreds is one or two), in key order, so that two instances' batches on
/// PostgreSQL lock the rows they share in the same order. Only the activity writer writes SCIM
/// records, in transactions of its own, so no request waits for these rows' locks.
async fn count_traffic(conn: &mut TxConn, records: &[(&str, &NewActivity)]) -> DomainResult<()> {
    const COLUMNS: usize = 5;
    // (tenant, minute) → (requests, errors, last)
    let mut minutes: std::collections::BTreeMap<(&str, i64), (i64, i64, i64)> = std::collections::BTreeMap::new();
    for (tenant, a) in records.iter().filter(|(_, a)| a.actor == "scim") {
        let m = minutes.entry((tenant, minute_of(a.at))).or_insert((0, 0, a.at));
        m.0 += 1;
        m.1 += i64::from(failed(a));
        m.2 = m.2.max(a.at);
    }
    let minutes: Vec<_> = minutes.into_iter().collect();
    let anonymous = conn.anonymous_params();
    for chunk in minutes.chunks(200) {
        let sql = format!(
            "INSERT INTO scim_traffic (tenant_id, minute_at, requests, errors, last_at) VALUES {} \
             ON CONFLICT (tenant_id, minute_at) DO UPDATE SET requests = scim_traffic.requests + excluded.requests, \
             errors = scim_traffic.errors + excluded.errors, \
             last_at = CASE WHEN excluded.last_at > scim_traffic.last_at THEN excluded.last_at ELSE scim_traffic.last_at END",
            super::value_rows(chunk.len(), COLUMNS, anonymous)
        );
        with_conn!(&mut *conn, |c| {
            let mut q = sqlx::query(&sql);
            for ((tenant, minute), (requests, errors, last)) in chunk {
                q = q.bind(*tenant).bind(*minute).bind(*requests).bind(*errors).bind(*last);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The list of one resource's activity records on SQLite (the tenant `$1`, the resource
/// `$resource_param`, the conditions `cond` on `a`, newest first): those moved into
/// `activity_by_resource` (migration 0038), walked newest first by its key as the index was,
/// and those still pending (a few seconds' worth at most, read whole: never by walking the
/// tenant's records for the resource's). One statement: one snapshot of both.
fn sqlite_by_resource(cond: &str, resource_param: usize, limit: i64) -> String {
    let arm = |from: &str, on: &str, order: &str| {
        format!(
            "SELECT * FROM (SELECT {VIEW_COLUMNS}, {NO_BODY} FROM {from} CROSS JOIN activity a \
             WHERE {on}.tenant_id = $1 AND {on}.resource_id = ${resource_param} AND a.id = {on}.id \
             AND a.tenant_id = $1{cond} ORDER BY {order} LIMIT {limit})"
        )
    };
    format!(
        "{} UNION ALL {} ORDER BY at DESC, id DESC LIMIT {limit}",
        arm("activity_by_resource r", "r", "r.at DESC, r.id DESC"),
        arm("activity_by_resource_pending p", "p", "a.at DESC, a.id DESC"),
    )
}

impl TenantStore<'_> {
    /// Appends an activity record.
    pub async fn record_activity(&self, a: &NewActivity) -> DomainResult<()> {
        self.store.insert_activity(&[(self.id.clone(), a.clone())]).await
    }

    /// Activity records matching `q`, newest first, at most `limit`.
    pub async fn activity(&self, q: &ActivityQuery, limit: i64) -> DomainResult<Vec<ActivityView>> {
        let mut cond = String::new();
        let mut texts: Vec<&str> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        // The resource's parameter ($n), when the records of one resource are asked for.
        let mut resource_param = 0;
        // Text parameters come first ($2…), then integers.
        for (col, v) in [
            ("resource_type", &q.resource_type),
            ("resource_id", &q.resource_id),
            ("credential_id", &q.credential_id),
            ("actor", &q.actor),
        ] {
            if !v.is_empty() {
                texts.push(v);
                cond.push_str(&format!(" AND a.{col} = ${}", texts.len() + 1));
                if col == "resource_id" {
                    resource_param = texts.len() + 1;
                }
            }
        }
        let pattern = super::directory::like_escape(q.search.trim());
        if !q.search.trim().is_empty() {
            texts.push(&pattern);
            let n = texts.len() + 1;
            cond.push_str(&format!(
                " AND (lower(a.summary) LIKE ${n} ESCAPE '\\' OR a.resource_id IN (SELECT u.id FROM scim_users u \
                 WHERE u.tenant_id = $1 AND (u.user_name_norm LIKE ${n} ESCAPE '\\' OR u.primary_email_norm LIKE ${n} ESCAPE '\\')))"
            ));
        }
        if q.changes_only {
            cond.push_str(" AND (a.method IS NULL OR a.method <> 'GET')");
        }
        match q.outcome.as_str() {
            // Written out, not bound: the partial index of failed records (migration 0037)
            // serves a query whose condition is its own, which a parameter would not show.
            "error" => cond.push_str(" AND a.status >= 400"),
            "success" => cond.push_str(" AND (a.status IS NULL OR a.status < 400)"),
            _ => {}
        }
        let first_int = texts.len() + 2;
        for (col, op, v) in [("at", ">=", q.since_ms), ("at", "<", q.until_ms)] {
            if let Some(v) = v {
                ints.push(v);
                cond.push_str(&format!(" AND a.{col} {op} ${}", first_int + ints.len() - 1));
            }
        }
        // After the record `before_id` in the list's order (the tenant's own: another tenant's
        // id, or a record retention deleted meanwhile, ends the list).
        if let Some(before) = q.before_id {
            ints.push(before);
            let n = first_int + ints.len() - 1;
            cond.push_str(&format!(
                " AND (a.at, a.id) < (SELECT c.at, c.id FROM activity c WHERE c.tenant_id = $1 AND c.id = ${n})"
            ));
        }
        // Newest first by time, then by id: the order of the indexes that start with
        // (tenant_id, at) (SQLite's hold the row id after `at`), which the list walks backwards
        // and stops after `limit`. By id alone, SQLite sorted every record of the tenant first
        // (1.25 s a page at a million records).
        let limit = limit.clamp(0, 1000);
        let sql = if resource_param > 0 && self.store.backend() == Backend::Sqlite {
            sqlite_by_resource(&cond, resource_param, limit)
        } else {
            format!(
                "SELECT {VIEW_COLUMNS}, {NO_BODY} FROM activity a WHERE a.tenant_id = $1{cond} \
                 ORDER BY a.at DESC, a.id DESC LIMIT {limit}"
            )
        };
        with_pool!(self.store, |p| {
            let mut query = sqlx::query(&sql).bind(self.id.as_str());
            for t in &texts {
                query = query.bind(*t);
            }
            for i in &ints {
                query = query.bind(*i);
            }
            let rows = query.fetch_all(p).await?;
            rows.iter().map(view_from_row).collect()
        })
    }

    /// One activity record.
    pub async fn activity_record(&self, id: i64) -> DomainResult<Option<ActivityView>> {
        let sql = format!("SELECT {VIEW_COLUMNS}, a.request_body FROM activity a WHERE a.tenant_id = $1 AND a.id = $2");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(view_from_row).transpose()
        })
    }

    /// SCIM requests and failures since `since_ms`, and the last SCIM request (see [`failed`]).
    ///
    /// Read from the tenant's minutes of `scim_traffic` from the first whole minute on (at most
    /// 1,440 rows for a day), and from the activity log's records before it (the first, partial
    /// minute): constant in the day's traffic, where counting every record took ~50 ms per
    /// 100,000 requests.
    pub async fn scim_traffic(&self, since_ms: i64) -> DomainResult<TrafficCounts> {
        let whole = minute_of(since_ms) + if since_ms.rem_euclid(MINUTE_MS) == 0 { 0 } else { MINUTE_MS };
        with_pool!(self.store, |p| {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT last_at FROM scim_traffic WHERE tenant_id = $1 ORDER BY minute_at DESC LIMIT 1",
            )
            .bind(self.id.as_str())
            .fetch_optional(p)
            .await?;
            let minutes = sqlx::query(
                "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS n, CAST(COALESCE(SUM(errors), 0) AS BIGINT) AS errors \
                 FROM scim_traffic WHERE tenant_id = $1 AND minute_at >= $2",
            )
            .bind(self.id.as_str())
            .bind(whole)
            .fetch_one(p)
            .await?;
            let partial = sqlx::query(
                "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN status >= 400 AND NOT (method = 'GET' AND status = 404) THEN 1 ELSE 0 END), 0) AS errors \
                 FROM activity WHERE tenant_id = $1 AND actor = 'scim' AND at >= $2 AND at < $3",
            )
            .bind(self.id.as_str())
            .bind(since_ms)
            .bind(whole)
            .fetch_one(p)
            .await?;
            DomainResult::Ok(TrafficCounts {
                last_at: last,
                requests: minutes.try_get::<i64, _>("n")? + partial.try_get::<i64, _>("n")?,
                errors: minutes.try_get::<i64, _>("errors")? + partial.try_get::<i64, _>("errors")?,
            })
        })
    }

    /// The most recent activity records, newest first (for tests and, later, the dashboard).
    pub async fn recent_activity(&self, limit: i64) -> DomainResult<Vec<NewActivity>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT at, actor, credential_id, method, path, status, latency_ms, resource_type, resource_id, summary, scim_type, detail, user_agent, actor_name, request_body \
                 FROM activity WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(self.id.as_str())
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(NewActivity {
                        at: r.try_get("at")?,
                        actor: r.try_get("actor")?,
                        credential_id: r.try_get("credential_id")?,
                        method: r.try_get("method")?,
                        path: r.try_get("path")?,
                        status: r.try_get("status")?,
                        latency_ms: r.try_get("latency_ms")?,
                        resource_type: r.try_get("resource_type")?,
                        resource_id: r.try_get("resource_id")?,
                        summary: r.try_get("summary")?,
                        scim_type: r.try_get("scim_type")?,
                        detail: r.try_get("detail")?,
                        user_agent: r.try_get("user_agent")?,
                        actor_name: r.try_get("actor_name")?,
                        request_body: r.try_get("request_body")?,
                    })
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }

    /// The IdP's SCIM requests since `since_ms`, newest first, with their bodies (at most
    /// `limit`): what the IdP diagnostics read.
    pub async fn scim_requests(&self, since_ms: i64, limit: i64) -> DomainResult<Vec<ActivityView>> {
        let sql = format!(
            "SELECT {VIEW_COLUMNS}, a.request_body FROM activity a WHERE a.tenant_id = $1 AND a.actor = 'scim' AND a.at >= $2 \
             ORDER BY a.at DESC, a.id DESC LIMIT $3"
        );
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(since_ms).bind(limit).fetch_all(p).await?;
            rows.iter().map(view_from_row).collect()
        })
    }
}

/// Records of the tenant after id `after`, oldest first, with their request bodies (the
/// organization's export).
pub(super) async fn activity_after(t: &TenantStore<'_>, after: i64, limit: i64) -> DomainResult<Vec<ActivityView>> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS}, a.request_body FROM activity a WHERE a.tenant_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3"
    );
    with_pool!(t.store, |p| {
        let rows = sqlx::query(&sql).bind(t.id.as_str()).bind(after).bind(limit).fetch_all(p).await?;
        rows.iter().map(view_from_row).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::store::{Pool, Store};

    fn record(at: i64, method: &str, resource: &str) -> NewActivity {
        // `at` doubles as the record's name in the assertions.
        NewActivity {
            at,
            actor: "scim".into(),
            method: Some(method.into()),
            status: Some(200),
            resource_type: Some("User".into()),
            resource_id: Some(resource.into()),
            summary: format!("{method} at {at}"),
            ..Default::default()
        }
    }

    async fn history(store: &Store, tenant: &TenantId, resource: &str, changes_only: bool, limit: i64) -> Vec<i64> {
        let q = ActivityQuery { resource_id: resource.into(), changes_only, ..Default::default() };
        store.tenant(tenant).activity(&q, limit).await.expect("history").iter().map(|v| v.at_ms).collect()
    }

    /// A store on a new SQLite file, migrated (the directory lives as long as the first half).
    async fn migrated() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    async fn filed(store: &Store) -> i64 {
        let Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        sqlx::query_scalar("SELECT COUNT(*) FROM activity_by_resource").fetch_one(pool).await.expect("count")
    }

    /// A resource's records are listed whole, newest first, once each, whether they were moved
    /// into `activity_by_resource` yet or are still pending (and both at once); another tenant's
    /// records of the same id are not; deleting records deletes their entries.
    #[tokio::test]
    async fn a_resources_records_are_listed_pending_and_moved() {
        let (_dir, store) = migrated().await;
        let (a, b) = (TenantId::random(), TenantId::random());
        let batch = [
            (a.clone(), record(1, "POST", "u")),
            (a.clone(), record(2, "PATCH", "u")),
            (a.clone(), record(3, "GET", "u")),
            (a.clone(), record(4, "PUT", "u")),
            (b.clone(), record(5, "PATCH", "u")),
            (a.clone(), record(6, "PATCH", "v")),
        ];
        store.insert_activity(&batch).await.expect("insert");
        assert_eq!(history(&store, &a, "u", false, 10).await, [4, 3, 2, 1], "all pending but the create's");
        assert_eq!(history(&store, &a, "u", true, 10).await, [4, 2, 1]);

        assert_eq!(filed(&store).await, 1, "a create's record is filed at once, the others are pending");
        assert_eq!(store.move_activity_by_resource().await.expect("move"), 5);
        assert_eq!(filed(&store).await, 6);
        assert_eq!(store.move_activity_by_resource().await.expect("move again"), 0, "nothing left pending");
        store
            .insert_activity(&[(a.clone(), record(7, "DELETE", "u")), (a.clone(), record(2, "GET", "u"))])
            .await
            .expect("insert");
        assert_eq!(history(&store, &a, "u", false, 10).await, [7, 4, 3, 2, 2, 1], "moved and pending at once");
        assert_eq!(history(&store, &a, "u", false, 2).await, [7, 4], "the limit holds over both");
        assert_eq!(history(&store, &a, "u", true, 10).await, [7, 4, 2, 1]);
        assert_eq!(history(&store, &b, "u", false, 10).await, [5], "another tenant's records stay its own");
        assert_eq!(history(&store, &a, "v", false, 10).await, [6]);
        assert_eq!(history(&store, &a, "w", false, 10).await, Vec::<i64>::new());

        // Retention takes moved and pending records alike.
        assert_eq!(store.delete_activity_before(3).await.expect("retention"), 3);
        assert_eq!(filed(&store).await, 4, "the deleted records' entries went with them");
        assert_eq!(history(&store, &a, "u", false, 10).await, [7, 4, 3]);
        assert_eq!(store.move_activity_by_resource().await.expect("move"), 1, "the deleted pending record is gone too");
        assert_eq!(filed(&store).await, 5);
        assert_eq!(history(&store, &a, "u", false, 10).await, [7, 4, 3], "after the move");
    }

    /// A backlog is moved a transaction of [`MOVE_BATCH`] records at a time, in key order, and
    /// nothing is lost or listed twice on the way.
    #[tokio::test]
    async fn a_backlog_is_moved_in_bounded_transactions() {
        let (_dir, store) = migrated().await;
        let a = TenantId::random();
        let n = MOVE_BATCH + 500;
        let batch: Vec<_> = (0..n).map(|i| (a.clone(), record(i, "PATCH", &format!("u{}", i % 7)))).collect();
        store.insert_activity(&batch).await.expect("insert");
        assert_eq!(store.move_activity_by_resource().await.expect("move"), MOVE_BATCH as u64);
        let all: usize = {
            let mut total = 0;
            for r in 0..7 {
                let listed = history(&store, &a, &format!("u{r}"), false, 1000).await;
                assert!(listed.windows(2).all(|w| w[0] > w[1]), "newest first, once each");
                total += listed.len();
            }
            total
        };
        assert_eq!(all, n as usize, "every record listed, moved or pending");
        assert_eq!(store.move_activity_by_resource().await.expect("move"), 500);
        assert_eq!(store.move_activity_by_resource().await.expect("move"), 0);
        assert_eq!(filed(&store).await, n);
    }

    /// The list of one resource's records never walks the activity table: at a million records,
    /// walking the tenant's for one user's took seconds.
    #[tokio::test]
    async fn a_resources_records_are_read_by_key_and_row_id() {
        let (_dir, store) = migrated().await;
        let Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        for cond in [" AND a.resource_id = $2", " AND a.resource_id = $2 AND (a.method IS NULL OR a.method <> 'GET')"] {
            let sql = sqlite_by_resource(cond, 2, 100).replace("$1", "'t'").replace("$2", "'u'");
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
            let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
            // The moved records by their key, each read by its row id, in the key's order: no
            // sort of the resource's whole history before the limit (the sorts after it see at
            // most `limit` rows); the pending ones read whole (a few seconds' worth).
            let moved = steps.iter().position(|s| *s == "SEARCH r USING PRIMARY KEY (tenant_id=? AND resource_id=?)");
            let moved = moved.unwrap_or_else(|| panic!("the moved records by their key: {steps:?}"));
            assert_eq!(steps.get(moved + 1), Some(&"SEARCH a USING INTEGER PRIMARY KEY (rowid=?)"), "{steps:?}");
            assert!(steps.get(moved + 2).is_some_and(|s| s.starts_with("SCAN (subquery")), "{steps:?}");
            let pending = steps.iter().position(|s| *s == "SCAN p").unwrap_or_else(|| panic!("{steps:?}"));
            assert_eq!(steps.get(pending + 1), Some(&"SEARCH a USING INTEGER PRIMARY KEY (rowid=?)"), "{steps:?}");
            assert!(!steps.iter().any(|s| *s == "SCAN a" || s.starts_with("SCAN a USING")), "{steps:?}");
        }
    }

    /// Records written before migration 0038 are moved by it, none left pending.
    #[tokio::test]
    async fn the_migration_files_the_records_already_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        let Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let all = crate::store::migrations::sqlite();
        let before = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(all.iter().filter(|m| m.version < 38).cloned().collect()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        before.run(pool).await.expect("migrate to 0037");
        let a = TenantId::random();
        let rows: Vec<(&str, NewActivity)> =
            vec![(a.as_str(), record(1, "POST", "u")), (a.as_str(), record(2, "GET", "u"))];
        let rows: Vec<(&str, &NewActivity)> = rows.iter().map(|(t, r)| (*t, r)).collect();
        let mut conn = TxConn::begin(&store).await.expect("tx");
        write_activity(&mut conn, &rows).await.expect("write");
        conn.commit().await.expect("commit");
        store.migrate().await.expect("migrate");
        assert_eq!(filed(&store).await, 2);
        assert_eq!(store.move_activity_by_resource().await.expect("move"), 0, "none of them pending");
        assert_eq!(history(&store, &a, "u", false, 10).await, [2, 1]);
    }
}

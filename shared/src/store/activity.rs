//! The activity log: one row per SCIM request (and, later, per admin and support action).

use sqlx::Row;

use super::tx::{with_conn, TenantTx, TxConn};
use super::{with_pool, TenantStore};
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

    /// Deletes activity records older than `before_ms`, in all tenants; returns how many.
    pub async fn delete_activity_before(&self, before_ms: i64) -> DomainResult<u64> {
        let n = with_pool!(self, |p| {
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
        let mut conn = TxConn::begin(self).await?;
        let rows: Vec<(&str, &NewActivity)> = records.iter().map(|(t, a)| (t.as_str(), a)).collect();
        write_activity(&mut conn, &rows).await?;
        conn.commit().await
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

/// Inserts activity records ((tenant, record)) on `conn`, 200 rows a statement.
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
    Ok(())
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
            "error" => cond.push_str(" AND a.status >= 400"),
            "success" => cond.push_str(" AND (a.status IS NULL OR a.status < 400)"),
            _ => {}
        }
        let first_int = texts.len() + 2;
        for (col, op, v) in [("at", ">=", q.since_ms), ("at", "<", q.until_ms), ("id", "<", q.before_id)] {
            if let Some(v) = v {
                ints.push(v);
                cond.push_str(&format!(" AND a.{col} {op} ${}", first_int + ints.len() - 1));
            }
        }
        let sql = format!(
            "SELECT {VIEW_COLUMNS}, {NO_BODY} FROM activity a WHERE a.tenant_id = $1{cond} ORDER BY a.id DESC LIMIT {}",
            limit.clamp(0, 1000)
        );
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

    /// SCIM requests and failures since `since_ms`, and the last SCIM request. A `GET` answered
    /// 404 is not a failure: IdPs look up users that were deleted meanwhile, as a matter of
    /// course, and counting those made healthy tenants look failing.
    pub async fn scim_traffic(&self, since_ms: i64) -> DomainResult<TrafficCounts> {
        with_pool!(self.store, |p| {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT MAX(at) FROM activity WHERE tenant_id = $1 AND actor = 'scim'")
                    .bind(self.id.as_str())
                    .fetch_one(p)
                    .await?;
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN status >= 400 AND NOT (method = 'GET' AND status = 404) THEN 1 ELSE 0 END), 0) AS errors \
                 FROM activity WHERE tenant_id = $1 AND actor = 'scim' AND at >= $2",
            )
            .bind(self.id.as_str())
            .bind(since_ms)
            .fetch_one(p)
            .await?;
            DomainResult::Ok(TrafficCounts {
                last_at: last,
                requests: row.try_get("n")?,
                errors: row.try_get("errors")?,
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

//! CSV downloads for the dashboard (a file download is a plain GET, not a server function): the
//! users table, all or as filtered, the import template, and the activity log as filtered. Same session check as the server
//! functions: only an organization admin, only their own tenant.

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use roster_shared::dto::{ConsoleRole, UserFilter, UserQuery, UserSort};
use roster_shared::error::{DomainError, DomainResult};
use roster_shared::ids::{AccountId, TenantId};
use roster_shared::service::directory::CsvExport;
use roster_shared::service::Services;
use roster_shared::store::Store;
use serde::Deserialize;
use tower_sessions::Session;

/// Most rows one export holds.
pub const MAX_EXPORT_ROWS: i64 = 1_000_000;

/// The users table's filter, from the query string (the page's current view).
#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    #[serde(default)]
    search: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    descending: bool,
    #[serde(default)]
    user_group: String,
    #[serde(default)]
    role: String,
}

fn csv(name: &str, body: impl Into<Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body.into(),
    )
        .into_response()
}

async fn admin_tenant(services: &Services, session: &Session) -> Result<TenantId, Response> {
    let denied = || (StatusCode::UNAUTHORIZED, "Sign in to the Roster dashboard first.").into_response();
    let id: Option<String> = session.get("account_id").await.map_err(|_| denied())?;
    let Some(id) = id.as_deref().and_then(AccountId::parse) else {
        return Err(denied());
    };
    let signed_in_at: Option<i64> = session.get("signed_in_at").await.map_err(|_| denied())?;
    let viewer =
        roster_shared::service::accounts::session_viewer(&services.store, &id, signed_in_at).await.map_err(|e| {
            tracing::error!("export: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })?;
    match viewer {
        Some(v) if v.role == ConsoleRole::OrgAdmin => {
            v.tenant.and_then(|t| TenantId::parse(&t.id)).ok_or_else(|| StatusCode::FORBIDDEN.into_response())
        }
        Some(_) => Err(StatusCode::FORBIDDEN.into_response()),
        None => Err(denied()),
    }
}

/// `GET /export/users.csv?search=&filter=&sort=&descending=&user_group=&role=`.
pub async fn users_csv(services: Services, session: Session, Query(p): Query<ExportParams>) -> Response {
    let tenant = match admin_tenant(&services, &session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let q = UserQuery {
        search: p.search,
        filter: UserFilter::parse(&p.filter),
        sort: UserSort::parse(&p.sort),
        descending: p.descending,
        page: 1,
        page_size: 0,
        user_group: Some(p.user_group).filter(|g| !g.is_empty()),
        role: roster_shared::dto::GroupRole::parse(&p.role),
        idp_group: None,
    };
    stream_csv("users.csv", CsvExport::new(q, MAX_EXPORT_ROWS), services, tenant).await
}

/// An export that yields its CSV a chunk at a time (the header first), `None` at the end.
trait Chunks: Send + 'static {
    fn next_chunk<'a>(
        &'a mut self,
        store: &'a Store,
        tenant: &'a TenantId,
    ) -> impl std::future::Future<Output = DomainResult<Option<String>>> + Send + 'a;
}

impl Chunks for CsvExport {
    fn next_chunk<'a>(
        &'a mut self,
        store: &'a Store,
        tenant: &'a TenantId,
    ) -> impl std::future::Future<Output = DomainResult<Option<String>>> + Send + 'a {
        CsvExport::next_chunk(self, store, tenant)
    }
}

impl Chunks for roster_shared::service::activity::CsvExport {
    fn next_chunk<'a>(
        &'a mut self,
        store: &'a Store,
        tenant: &'a TenantId,
    ) -> impl std::future::Future<Output = DomainResult<Option<String>>> + Send + 'a {
        roster_shared::service::activity::CsvExport::next_chunk(self, store, tenant)
    }
}

/// Streams an export a chunk at a time (a million rows never sit in memory). The first chunk is
/// made before answering, so that a filter refused gets a clean 400 with the reason and a failing
/// query a clean 500; a failure later aborts the download rather than ending it early as if the
/// file were complete.
async fn stream_csv(name: &str, mut export: impl Chunks, services: Services, tenant: TenantId) -> Response {
    let first = match export.next_chunk(&services.store, &tenant).await {
        Ok(first) => first.unwrap_or_default(),
        Err(DomainError::Invalid(why)) => return (StatusCode::BAD_REQUEST, why).into_response(),
        Err(e) => {
            tracing::error!("{name} export: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let label = name.to_string();
    let rest = futures_util::stream::unfold(Some((export, services, tenant, label)), |state| async move {
        let (mut export, services, tenant, label) = state?;
        match export.next_chunk(&services.store, &tenant).await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some((export, services, tenant, label)))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!("{label} export stopped: {e}");
                Some((Err(std::io::Error::other("the export stopped; download it again")), None))
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    csv(name, Body::from_stream(body))
}

/// The activity page's filters, from the query string.
#[derive(Debug, Default, Deserialize)]
pub struct ActivityParams {
    #[serde(default)]
    search: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    credential: String,
}

/// `GET /export/activity.csv?search=&outcome=&resource_type=&actor=&period=&resource=&credential=`:
/// the activity log as the page filters it, newest first, streamed.
pub async fn activity_csv(services: Services, session: Session, Query(p): Query<ActivityParams>) -> Response {
    let tenant = match admin_tenant(&services, &session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    services.activity.flush().await;
    let hours = match p.period.as_str() {
        "1h" => Some(1),
        "24h" => Some(24),
        "7d" => Some(24 * 7),
        _ => None,
    };
    let q = roster_shared::dto::ActivityQuery {
        outcome: p.outcome,
        resource_type: p.resource_type,
        resource_id: p.resource.trim().to_string(),
        credential_id: p.credential.trim().to_string(),
        actor: p.actor,
        since_ms: hours.map(|h: i64| -h * 3_600_000),
        until_ms: None,
        before_id: None,
        changes_only: false,
        search: p.search,
    };
    stream_csv("activity.csv", roster_shared::service::activity::CsvExport::new(&q, MAX_EXPORT_ROWS), services, tenant)
        .await
}

/// `GET /export/users-template.csv`.
pub async fn template_csv(services: Services, session: Session) -> Response {
    match admin_tenant(&services, &session).await {
        Ok(_) => csv("roster-users-template.csv", roster_shared::service::directory::import_template()),
        Err(r) => r,
    }
}

//! CSV downloads for the dashboard (a file download is a plain GET, not a server function): the
//! users table, all or as filtered, and the import template. Same session check as the server
//! functions: only an organization admin, only their own tenant.

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_shared::dto::{ConsoleRole, UserFilter, UserQuery, UserSort};
use roster_shared::ids::{AccountId, TenantId};
use roster_shared::services::Services;
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
}

fn csv(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

async fn admin_tenant(services: &Services, session: &Session) -> Result<TenantId, Response> {
    let denied = || (StatusCode::UNAUTHORIZED, "Sign in to the Roster dashboard first.").into_response();
    let id: Option<String> = session.get("account_id").await.map_err(|_| denied())?;
    let Some(id) = id.as_deref().and_then(AccountId::parse) else {
        return Err(denied());
    };
    let viewer = roster_shared::accounts::viewer(&services.store, &id).await.map_err(|e| {
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

/// `GET /export/users.csv?search=&filter=&sort=&descending=`.
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
        user_group: None,
    };
    match roster_shared::directory::export_csv(&services.store, &tenant, &q, MAX_EXPORT_ROWS).await {
        Ok(body) => csv("users.csv", body),
        Err(e) => {
            tracing::error!("export: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /export/users-template.csv`.
pub async fn template_csv(services: Services, session: Session) -> Response {
    match admin_tenant(&services, &session).await {
        Ok(_) => csv("roster-users-template.csv", roster_shared::directory::import_template()),
        Err(r) => r,
    }
}

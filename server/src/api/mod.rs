//! The read API under `/api/v1`, for the platform's own applications: the organization's events
//! in order with an opaque cursor, and its users, SCIM groups and user groups as they are now.
//!
//! Every request but the OpenAPI document carries `Authorization: Bearer rk_…`, an API key an
//! organization admin created on the *Integrations* page: it reads that organization only (the
//! tenant comes from the key, never from the request; another organization's ids are 404),
//! and is rate limited per key. Errors are `{"error": {"code", "message"}}` with the HTTP
//! status. The OpenAPI document (`/api/v1/openapi.json`) is generated from these handlers and
//! the shared types with `utoipa`, so it cannot drift from the code.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_shared::dto::events::{EventView, EventsPage};
use roster_shared::error::DomainError;
use roster_shared::ids::TenantId;
use roster_shared::service::read_api::{self, ApiPage};
use roster_shared::service::{api_keys, events, Services};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The organization a request's key reads.
#[derive(Clone, Debug)]
struct Caller {
    tenant: TenantId,
}

#[derive(Clone)]
struct ApiState {
    services: Services,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

/// Requests per second per key (bursts of twice that).
const RATE_PER_SECOND: u32 = 50;

/// The routes.
pub fn router(services: Services) -> Router {
    let rate = NonZeroU32::new(RATE_PER_SECOND).unwrap_or(NonZeroU32::MIN);
    let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
    let state =
        ApiState { services, limiter: Arc::new(RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst))) };
    let authed = Router::new()
        .route("/api/v1/events", get(list_events))
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/groups", get(list_groups))
        .route("/api/v1/groups/{id}", get(get_group))
        .route("/api/v1/user_groups", get(list_user_groups))
        .route("/api/v1/user_groups/{id}/members", get(list_user_group_members))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    Router::new().route("/api/v1/openapi.json", get(openapi)).merge(authed)
}

/// An error as the API answers it.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ApiError {
    /// What went wrong.
    pub error: ApiErrorBody,
}

/// The error's code and words.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// `unauthorized`, `invalid_request`, `not_found`, `rate_limited` or `internal`.
    pub code: &'static str,
    /// For the developer.
    pub message: String,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    roster_shared::metrics::events_api(code);
    (status, Json(ApiError { error: ApiErrorBody { code, message: message.into() } })).into_response()
}

fn domain_error(e: DomainError) -> Response {
    match e {
        DomainError::NotFound => error(StatusCode::NOT_FOUND, "not_found", "No such resource."),
        DomainError::Invalid(m) => error(StatusCode::BAD_REQUEST, "invalid_request", m),
        other => {
            tracing::error!("read API: {other}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong on our side; retry.")
        }
    }
}

fn ok<T: serde::Serialize>(value: T) -> Response {
    roster_shared::metrics::events_api("ok");
    Json(value).into_response()
}

async fn authenticate(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let unauthorized = || {
        let mut res =
            error(StatusCode::UNAUTHORIZED, "unauthorized", "Send a live API key: Authorization: Bearer rk_…");
        res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        res
    };
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, s)| s.trim().to_string());
    let Some(secret) = secret else { return unauthorized() };
    let (tenant, key) = match api_keys::authenticate(&state.services.store, &secret).await {
        Ok(Some(found)) => found,
        Ok(None) => return unauthorized(),
        Err(e) => return domain_error(e),
    };
    if let Err(not_until) = state.limiter.check_key(&key) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut res = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Too many requests with this key; retry after {secs} s."),
        );
        if let Ok(v) = secs.to_string().parse() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    tracing::Span::current().record("tenant", tenant.as_str());
    if crate::http::nul::encoded_nul(req.uri().path().as_bytes()) {
        // A NUL character in the path names nothing (no id holds one; PostgreSQL's text cannot).
        return error(StatusCode::NOT_FOUND, "not_found", "No such resource.");
    }
    req.extensions_mut().insert(Caller { tenant });
    next.run(req).await
}

/// `GET /api/v1/events`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The `next_cursor` of the previous page; leave out to start at the oldest event kept.
    after: Option<String>,
    /// Only these types, comma-separated (e.g. `user.created,user.deleted`).
    types: Option<String>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// The organization's events after a cursor, oldest first.
#[utoipa::path(get, path = "/api/v1/events", params(EventsQuery), tag = "events",
    responses((status = 200, body = EventsPage), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 429, body = ApiError)),
    security(("api_key" = [])))]
async fn list_events(
    State(state): State<ApiState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let types: Vec<String> = q
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    match events::list(&state.services.store, &c.tenant, q.after.as_deref(), &types, q.limit.unwrap_or(100)).await {
        Ok(page) => ok(page),
        Err(e) => domain_error(e),
    }
}

/// A resource list's query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A SCIM filter (RFC 7644 §3.4.2.2), e.g. `userName eq "ada@example.com"` or `active eq false`.
    filter: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many (1–200, default 50).
    limit: Option<i64>,
}

fn base_url(services: &Services, tenant: &TenantId) -> String {
    roster_shared::service::scim_setup::base_url(&services.public_url, tenant)
}

/// Users (SCIM resources with `source`, `user_groups` and the effective `role`).
#[utoipa::path(get, path = "/api/v1/users", params(ListQuery), tag = "directory",
    responses((status = 200, body = ApiPage), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("api_key" = [])))]
async fn list_users(
    State(state): State<ApiState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let s = &state.services;
    match read_api::users(&s.store, &c.tenant, &base_url(s, &c.tenant), q.filter, q.cursor, q.limit.unwrap_or(50)).await
    {
        Ok(page) => ok(page),
        Err(e) => domain_error(e),
    }
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", params(("id" = String, Path, description = "The user's id")),
    tag = "directory", responses((status = 200, body = Object), (status = 404, body = ApiError)),
    security(("api_key" = [])))]
async fn get_user(State(state): State<ApiState>, Extension(c): Extension<Caller>, Path(id): Path<String>) -> Response {
    let s = &state.services;
    match read_api::user(&s.store, &c.tenant, &base_url(s, &c.tenant), &id).await {
        Ok(u) => ok(u),
        Err(e) => domain_error(e),
    }
}

/// SCIM groups (without members).
#[utoipa::path(get, path = "/api/v1/groups", params(ListQuery), tag = "directory",
    responses((status = 200, body = ApiPage), (status = 400, body = ApiError)), security(("api_key" = [])))]
async fn list_groups(
    State(state): State<ApiState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let s = &state.services;
    match read_api::groups(&s.store, &c.tenant, &base_url(s, &c.tenant), q.filter, q.cursor, q.limit.unwrap_or(50))
        .await
    {
        Ok(page) => ok(page),
        Err(e) => domain_error(e),
    }
}

/// One SCIM group with its members.
#[utoipa::path(get, path = "/api/v1/groups/{id}", params(("id" = String, Path, description = "The group's id")),
    tag = "directory", responses((status = 200, body = Object), (status = 404, body = ApiError)),
    security(("api_key" = [])))]
async fn get_group(State(state): State<ApiState>, Extension(c): Extension<Caller>, Path(id): Path<String>) -> Response {
    let s = &state.services;
    match read_api::group(&s.store, &c.tenant, &base_url(s, &c.tenant), &id).await {
        Ok(g) => ok(g),
        Err(e) => domain_error(e),
    }
}

/// The user groups (platform roles).
#[utoipa::path(get, path = "/api/v1/user_groups", tag = "directory",
    responses((status = 200, body = Vec<Object>)), security(("api_key" = [])))]
async fn list_user_groups(State(state): State<ApiState>, Extension(c): Extension<Caller>) -> Response {
    match read_api::user_groups(&state.services.store, &c.tenant).await {
        Ok(list) => ok(serde_json::json!({ "data": list })),
        Err(e) => domain_error(e),
    }
}

/// A user group's members (`cursor`, `limit`; `filter` is not used here).
#[utoipa::path(get, path = "/api/v1/user_groups/{id}/members",
    params(("id" = String, Path, description = "The user group's id"), ListQuery), tag = "directory",
    responses((status = 200, body = ApiPage), (status = 404, body = ApiError)), security(("api_key" = [])))]
async fn list_user_group_members(
    State(state): State<ApiState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    match read_api::user_group_members(&state.services.store, &c.tenant, &id, q.cursor, q.limit.unwrap_or(50)).await {
        Ok(page) => ok(page),
        Err(e) => domain_error(e),
    }
}

struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some("An API key from the organization's Integrations page (rk_…).".into());
        components.add_security_scheme("api_key", SecurityScheme::Http(http));
    }
}

/// The read API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Roster read API", version = "1",
         description = "An organization's provisioning events and directory, read with an API key. Webhooks deliver the same events (see the README)."),
    paths(list_events, list_users, get_user, list_groups, get_group, list_user_groups, list_user_group_members),
    components(schemas(EventView, EventsPage, ApiPage, ApiError, ApiErrorBody)),
    modifiers(&BearerKey)
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default()).clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

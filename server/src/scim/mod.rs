//! The per-tenant SCIM 2.0 API under `/scim/v2/{tenant}` (RFC 7644).
//!
//! Every request passes [`auth::authenticate`] (the credential must belong to the tenant in the
//! URL, and the tenant must have SCIM on) and leaves an activity record. Handlers are thin:
//! parse the request, call [`roster_shared::service::provisioning::Scim`], shape the response.

mod auth;
mod bulk;
mod discovery;
mod oauth;
mod panics;
pub(crate) mod paths;
mod resources;
mod response;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_shared::service::Services;

/// The largest request body accepted (advertised as `bulk.maxPayloadSize`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Limits that protect the service from one busy or runaway client.
#[derive(Clone, Debug)]
pub struct ScimLimits {
    /// Requests per second per credential (bursts of twice that); `None`: no limit.
    pub rate_per_second: Option<NonZeroU32>,
    /// How long one request may take before it is abandoned (its transaction rolls back).
    pub request_timeout: Duration,
}

impl Default for ScimLimits {
    fn default() -> Self {
        ScimLimits { rate_per_second: NonZeroU32::new(500), request_timeout: Duration::from_secs(30) }
    }
}

/// What the SCIM middleware needs.
#[derive(Clone)]
pub(crate) struct ScimState {
    pub services: Services,
    /// Per-credential rate limiter, in this process (each instance limits on its own).
    pub limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    pub request_timeout: Duration,
}

/// The SCIM routes.
pub fn router(services: Services, limits: ScimLimits) -> Router {
    let state = ScimState {
        services: services.clone(),
        limiter: limits.rate_per_second.map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
            Arc::new(RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)))
        }),
        request_timeout: limits.request_timeout,
    };
    let tenant_routes = Router::new()
        .route("/Users", get(resources::list_users).post(resources::create_user))
        .route("/Users/.search", post(resources::search_users))
        .route(
            "/Users/{id}",
            get(resources::get_user)
                .put(resources::replace_user)
                .patch(resources::patch_user)
                .delete(resources::delete_user),
        )
        .route("/Groups", get(resources::list_groups).post(resources::create_group))
        .route("/Groups/.search", post(resources::search_groups))
        .route(
            "/Groups/{id}",
            get(resources::get_group)
                .put(resources::replace_group)
                .patch(resources::patch_group)
                .delete(resources::delete_group),
        )
        .route("/.search", post(resources::search_root))
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Me", any(discovery::me))
        .route("/Bulk", post(bulk::bulk))
        .fallback(response::not_found)
        .method_not_allowed_fallback(response::method_not_allowed)
        // Inside the activity middleware: a panic becomes an answer it records.
        .layer(axum::middleware::from_fn(panics::catch))
        .layer(axum::middleware::from_fn_with_state(state, auth::authenticate))
        // The token endpoint authenticates the OAuth client itself.
        .route("/oauth/token", post(oauth::token).layer(axum::Extension(oauth::GrantLimiter::new())))
        .with_state(services);
    Router::new().nest("/scim/v2/{tenant}", tenant_routes)
}

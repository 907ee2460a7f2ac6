//! The axum application: what every request meets, outermost first.
//!
//! 0. SCIM endpoint names in any case or with a trailing slash are rewritten to the canonical
//!    ones ([`crate::scim::paths`]), before routing;
//! 1. a request id (`x-request-id`, kept if the client sent one, echoed on the response);
//! 2. request metrics (count and latency by route, method, status: [`crate::http::metrics`]);
//! 3. one tracing span per request (request id, method, route, tenant, status, latency);
//! 4. security headers ([`crate::http::security`]) and CSRF protection for the dashboard
//!    ([`crate::http::csrf`]);
//! 5. the dashboard session (tower-sessions, stored in the database);
//! 6. the routes: health probes, `/metrics` (with a token), the SCIM API (`/scim/v2/{tenant}`, see [`crate::scim`]), the
//!    dashboard's server functions and pages, static assets.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use roster_frontend::app::{shell, App};
use roster_frontend::assets::{PageModules, PagePreloads};
use roster_shared::service::Services;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::http::{csrf, health, security, trace};

/// The name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "roster_session";

/// How long a dashboard session lives without activity.
pub const SESSION_IDLE: time::Duration = time::Duration::hours(12);

/// The largest request body a dashboard route takes.
pub const DASHBOARD_MAX_BODY: usize = 16 * 1024 * 1024;

/// Options for [`router`] that do not belong in [`Services`].
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// Where the built dashboard assets are (`target/site`).
    pub site_root: String,
    /// The listening address (informational for Leptos).
    pub site_addr: std::net::SocketAddr,
    /// Rate limit and timeout of the SCIM API.
    pub scim: crate::scim::ScimLimits,
    /// Serve `/metrics` on this router, behind this bearer token (`None`: not here; `roster
    /// serve --metrics-bind` serves it on an address of its own instead).
    pub metrics_token: Option<String>,
}

/// Builds the whole application router.
pub fn router(services: Services, web: WebOptions) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("roster")
        .site_root(web.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(web.site_addr)
        .env(Env::PROD)
        .hash_files(roster_frontend::assets::built().complete())
        .build();
    // The route list is the same for every router, and it is computed once per process: making
    // it renders the whole app in a throwaway reactive owner whose resources run in the
    // background, and doing that while other routers render pages (several instances in one
    // process, as the integration tests run them) now and then left a page waiting forever
    // for a wake-up that went to the throwaway owner (answered 408 by the deadline below).
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| generate_route_list(App)).clone();

    let secure_cookies = services.public_url.starts_with("https://");
    let sessions = SessionManagerLayer::new(services.store.session_store())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookies)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE));

    let csrf_policy = Arc::new(csrf::Policy::new(&services.public_url));
    let security_headers = security::Headers::new(&services.public_url);
    // The split modules' files each page names for the browser to fetch early (read once per
    // router; see `roster_frontend::assets`).
    let page_modules =
        Arc::new(PageModules::load(&web.site_root, &leptos_options.site_pkg_dir, roster_frontend::assets::built()));
    let context_services = services.clone();
    let health_services = services.clone();
    let export_services = services.clone();
    let template_services = services.clone();
    let activity_services = services.clone();
    let sso_services = services.clone();

    let dashboard = Router::new()
        .leptos_routes_with_context(
            &leptos_options,
            routes,
            move || {
                provide_context(context_services.clone());
                provide_context(PagePreloads::new(page_modules.clone()));
                // The render's nonce, for the Content-Security-Policy the security headers set.
                let parts = leptos::prelude::use_context::<http::request::Parts>();
                if let (Some(parts), Some(nonce)) = (parts, leptos::nonce::use_nonce()) {
                    if let Some(slot) = parts.extensions.get::<crate::http::security::NonceSlot>() {
                        let _ = slot.0.set(nonce.to_string());
                    }
                }
            },
            {
                let options = leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .route(
            "/export/users.csv",
            get(move |session, query| crate::http::export::users_csv(export_services.clone(), session, query)),
        )
        .route(
            "/export/activity.csv",
            get(move |session, query| crate::http::export::activity_csv(activity_services.clone(), session, query)),
        )
        .route(
            "/export/users-template.csv",
            get(move |session| crate::http::export::template_csv(template_services.clone(), session)),
        )
        .merge(crate::http::sso::routes(sso_services))
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(leptos_options.clone())
        .layer(axum::middleware::from_fn(crate::http::errors::status_by_kind))
        .layer(axum::middleware::from_fn(crate::http::nul::refuse_nul))
        .layer(crate::http::assets::compress_pages())
        .layer(sessions)
        // Server function arguments arrive form-encoded: a 5 MB CSV import may take three times
        // that. Anything larger is refused with 413 before it is read.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(DASHBOARD_MAX_BODY))
        // No dashboard request may hang a connection forever (a trickled body included).
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(30),
        ));

    let metrics = match web.metrics_token.clone() {
        Some(token) => crate::http::metrics::router(services.clone(), Some(token)),
        None => Router::new(),
    };
    let app = Router::new()
        .merge(health::router(health_services))
        .merge(metrics)
        .merge(crate::scim::router(services.clone(), web.scim.clone()))
        .merge(crate::api::router(services.clone()))
        .merge(crate::http::assets::router(&web.site_root, &leptos_options.site_pkg_dir, leptos_options.hash_files))
        .merge(dashboard)
        .route("/favicon.ico", get(|| async { axum::response::Redirect::permanent("/favicon.svg") }))
        .route_layer(axum::middleware::from_fn(crate::http::metrics::label_route))
        .layer(axum::middleware::from_fn_with_state(csrf_policy, csrf::protect))
        .layer(axum::middleware::from_fn_with_state(security_headers, security::add))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace::layer())
        .layer(axum::middleware::from_fn(crate::http::metrics::track))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    // SCIM endpoint names as IdPs spell them (`/users/`), rewritten before routing.
    Router::new().fallback_service(tower::ServiceBuilder::new().map_request(crate::scim::paths::normalize).service(app))
}

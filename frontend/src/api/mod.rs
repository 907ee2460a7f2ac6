//! Server functions, grouped by area.

pub mod activity;
pub mod auth;
pub mod mappings;
pub mod scim_setup;
pub mod user_groups;
pub mod users;

/// Server-side helpers every server function uses: the services, the session, the client.
#[cfg(feature = "ssr")]
pub(crate) mod ctx {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use roster_shared::activity::Actor;
    use roster_shared::dto::Viewer;
    use roster_shared::ids::{AccountId, TenantId};
    use roster_shared::services::Services;
    use tower_sessions::Session;

    use crate::error::UiError;

    /// The session key under which the signed-in account's id is stored.
    pub const ACCOUNT_KEY: &str = "account_id";

    /// The instance's services, provided by the server as Leptos context.
    pub fn services() -> Result<Services, UiError> {
        leptos::prelude::use_context::<Services>().ok_or_else(|| {
            tracing::error!("Services missing from the Leptos context");
            UiError::Internal
        })
    }

    /// The request's session (tower-sessions puts it in the request's extensions).
    pub async fn session() -> Result<Session, UiError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            tracing::error!("no session on the request: {e}");
            UiError::Internal
        })
    }

    /// The signed-in account's id, if any.
    pub async fn account_id(session: &Session) -> Result<Option<AccountId>, UiError> {
        let id: Option<String> = session.get(ACCOUNT_KEY).await.map_err(|e| {
            tracing::error!("session store: {e}");
            UiError::Internal
        })?;
        Ok(id.as_deref().and_then(AccountId::parse))
    }

    /// The signed-in person; `Unauthenticated` if nobody is signed in.
    pub async fn require_viewer() -> Result<Viewer, UiError> {
        let services = services()?;
        let session = session().await?;
        let Some(id) = account_id(&session).await? else {
            return Err(UiError::Unauthenticated);
        };
        roster_shared::accounts::viewer(&services.store, &id).await?.ok_or(UiError::Unauthenticated)
    }

    /// An organization admin's call: the services, their tenant (from the session, never from
    /// the request) and the actor recorded in the activity log. Every admin server function
    /// starts here, so a request can only ever reach the signed-in admin's own tenant.
    pub async fn require_admin() -> Result<Admin, UiError> {
        let viewer = require_viewer().await?;
        let services = services()?;
        match (viewer.role, viewer.tenant.as_ref().and_then(|t| TenantId::parse(&t.id))) {
            (roster_shared::dto::ConsoleRole::OrgAdmin, Some(tenant)) => {
                Ok(Admin { services, tenant, actor: Actor::admin(&viewer.email) })
            }
            _ => Err(UiError::Forbidden),
        }
    }

    /// What [`require_admin`] returns.
    pub struct Admin {
        /// The instance's services.
        pub services: Services,
        /// The admin's tenant.
        pub tenant: TenantId,
        /// The admin, as the activity log names them.
        pub actor: Actor,
    }

    /// The client's IP address, as the connection (or, behind a trusted proxy, the last
    /// `X-Forwarded-For` entry) says.
    pub async fn client_ip(services: &Services) -> String {
        let parts = leptos::prelude::use_context::<http::request::Parts>();
        if services.trust_forwarded_for {
            let forwarded = parts.as_ref().and_then(|p| {
                p.headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .rfind(|s| !s.is_empty())
                    .map(str::to_owned)
            });
            if let Some(ip) = forwarded {
                return ip;
            }
        }
        parts
            .as_ref()
            .and_then(|p| p.extensions.get::<ConnectInfo<SocketAddr>>())
            .map(|ci| ci.0.ip().to_string())
            .unwrap_or_else(|| "unknown".to_string())
    }
}

//! Server functions, grouped by area.

pub mod activity;
pub mod auth;
pub mod forms;
pub mod integrations;
pub mod mappings;
pub mod safety;
pub mod scim_setup;
#[cfg(feature = "ssr")]
pub mod session;
pub mod sso;
pub mod support;
pub mod team;
pub mod user_groups;
pub mod users;

/// Server-side helpers every server function uses: the services, the session, the client.
#[cfg(feature = "ssr")]
pub(crate) mod ctx {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use roster_shared::dto::{ConsoleRole, Viewer};
    use roster_shared::ids::TenantId;
    use roster_shared::service::activity::Actor;
    use roster_shared::service::Services;
    use tower_sessions::Session;

    use crate::error::UiError;

    pub use super::session::session_failed;

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

    /// A text value of the session.
    async fn session_text(session: &Session, key: &str) -> Result<Option<String>, UiError> {
        session.get(key).await.map_err(session_failed)
    }

    /// The signed-in person; `Unauthenticated` if nobody is signed in.
    pub async fn require_viewer() -> Result<Viewer, UiError> {
        let services = services()?;
        let session = session().await?;
        let viewer = super::session::viewer_of(&services, &session).await?.ok_or(UiError::Unauthenticated)?;
        // The request's log span names the organization (a no-op where no span is current).
        if let Some(t) = &viewer.tenant {
            tracing::Span::current().record("tenant", t.id.as_str());
        }
        Ok(viewer)
    }

    /// Someone who may read the organization's dashboard: an organization admin, or a person
    /// signed in through SSO with the Admin or Viewer role. Reads start here, writes at
    /// [`require_admin`].
    pub async fn require_reader() -> Result<Admin, UiError> {
        let viewer = require_viewer().await?;
        let services = services()?;
        match (viewer.role, viewer.tenant.as_ref().and_then(|t| TenantId::parse(&t.id))) {
            (ConsoleRole::OrgAdmin | ConsoleRole::OrgViewer, Some(tenant)) => {
                Ok(Admin { services, tenant, actor: Actor::admin(&viewer.email) })
            }
            _ => require_admin().await,
        }
    }

    /// An organization admin's call: the services, their tenant (from the session, never from
    /// the request) and the actor recorded in the activity log. Every admin server function
    /// starts here, so a request can only ever reach the signed-in admin's own tenant.
    ///
    /// Support staff are refused here (the dashboard's admin functions are the only ones that
    /// change a tenant, and support is read-only; the server answers every `Forbidden` with 403)
    /// and the refusal is recorded in the activity of the tenant they were last looking at.
    pub async fn require_admin() -> Result<Admin, UiError> {
        let viewer = require_viewer().await?;
        let services = services()?;
        match (viewer.role, viewer.tenant.as_ref().and_then(|t| TenantId::parse(&t.id))) {
            (ConsoleRole::OrgAdmin, Some(tenant)) => Ok(Admin { services, tenant, actor: Actor::admin(&viewer.email) }),
            (ConsoleRole::OrgViewer, Some(tenant)) => {
                // Read-only: the refusal is recorded in the organization's activity.
                let path = leptos::prelude::use_context::<http::request::Parts>().map(|p| p.uri.path().to_string());
                if let Some(call) = path.as_deref().and_then(|p| p.strip_prefix("/api/")) {
                    tracing::warn!(viewer = %viewer.email, %call, "viewer refused: read-only");
                    roster_shared::service::activity::record(
                        &services.store,
                        &tenant,
                        &Actor::admin(&viewer.email),
                        "Dashboard",
                        None,
                        format!("refused {call}: the Viewer role is read-only"),
                    )
                    .await;
                }
                Err(UiError::Forbidden)
            }
            (ConsoleRole::Support, _) => {
                let path = leptos::prelude::use_context::<http::request::Parts>().map(|p| p.uri.path().to_string());
                // A page of the dashboard that staff open loads its data while they are being
                // sent to their console: only calls of the API itself are attempts to record.
                let Some(call) = path.as_deref().and_then(|p| p.strip_prefix("/api/")).map(str::to_string) else {
                    return Err(UiError::Forbidden);
                };
                let actor = Actor::support(&viewer.email);
                tracing::warn!(staff = %viewer.email, %call, "support staff refused: read-only");
                if let Some(tenant) = support_tenant(&session().await?).await? {
                    roster_shared::service::support::record_refused(&services.store, &tenant, &actor, &call).await;
                }
                Err(UiError::Forbidden)
            }
            _ => Err(UiError::Forbidden),
        }
    }

    /// The session key of the tenant a support person last looked at.
    const SUPPORT_TENANT_KEY: &str = "support_tenant";

    async fn support_tenant(session: &Session) -> Result<Option<TenantId>, UiError> {
        Ok(session_text(session, SUPPORT_TENANT_KEY).await?.as_deref().and_then(TenantId::parse))
    }

    /// A support staff member's call: the services and the actor their views are recorded as.
    pub async fn require_staff() -> Result<Staff, UiError> {
        let viewer = require_viewer().await?;
        if viewer.role != ConsoleRole::Support {
            return Err(UiError::Forbidden);
        }
        Ok(Staff { services: services()?, actor: Actor::support(&viewer.email) })
    }

    /// A support staff member looking at one tenant: checks the tenant exists, remembers it in
    /// the session (refused writes are recorded there) and records the view (`what`,
    /// `resource`) in the tenant's activity.
    pub async fn staff_view(tenant: &str, what: &str, resource: Option<(&str, &str)>) -> Result<StaffView, UiError> {
        let staff = require_staff().await?;
        let (tenant, _) = roster_shared::service::support::tenant(&staff.services.store, tenant)
            .await
            .map_err(|_| UiError::Invalid("There is no organization with this tenant key.".into()))?;
        session().await?.insert(SUPPORT_TENANT_KEY, tenant.as_str()).await.map_err(session_failed)?;
        roster_shared::service::support::record_view(&staff.services.store, &tenant, &staff.actor, what, resource)
            .await;
        Ok(StaffView { services: staff.services, tenant })
    }

    /// What [`require_staff`] returns.
    pub struct Staff {
        /// The instance's services.
        pub services: Services,
        /// The staff member, as activity records name them.
        pub actor: Actor,
    }

    /// What [`staff_view`] returns.
    pub struct StaffView {
        /// The instance's services.
        pub services: Services,
        /// The tenant looked at.
        pub tenant: TenantId,
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
        let peer = parts.as_ref().and_then(|p| p.extensions.get::<ConnectInfo<SocketAddr>>()).map(|ci| ci.0);
        let empty = http::HeaderMap::new();
        let headers = parts.as_ref().map_or(&empty, |p| &p.headers);
        super::session::client_ip(services.trust_forwarded_for, headers, peer).unwrap_or_else(|| "unknown".to_string())
    }
}

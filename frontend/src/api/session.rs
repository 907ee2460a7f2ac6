//! Who a dashboard session belongs to: a console account (organization admin, support staff)
//! or a person of an organization signed in through its SSO. The server's own routes (CSV
//! exports, SSO endpoints) and the server functions read it the same way.

use roster_shared::dto::Viewer;
use roster_shared::ids::{AccountId, TenantId};
use roster_shared::service::Services;
use tower_sessions::Session;

use crate::error::UiError;

/// The session key of the signed-in console account's id.
pub const ACCOUNT_KEY: &str = "account_id";
/// The session key of an SSO sign-in: `{tenant}/{user id}/{connection id}`.
pub const SSO_KEY: &str = "sso";

/// When a console account's session signed in (epoch ms): a password change after that ends it.
pub const SIGNED_IN_AT_KEY: &str = "signed_in_at";

/// Keeps this session signed in across its own account's password change (the others end).
pub async fn renew_sign_in(session: &Session) -> Result<(), UiError> {
    session.insert(SIGNED_IN_AT_KEY, roster_shared::clock::now_ms()).await.map_err(session_failed)
}

/// A failure of the session store, logged; the caller sees `Internal`.
pub fn session_failed(e: tower_sessions::session::Error) -> UiError {
    tracing::error!("session store: {e}");
    UiError::Internal
}

/// The SSO sign-in of a session: tenant, user id, connection id.
pub async fn sso_of(session: &Session) -> Result<Option<(TenantId, String, String)>, UiError> {
    let value: Option<String> = session.get(SSO_KEY).await.map_err(session_failed)?;
    Ok(value.and_then(|v| {
        let mut parts = v.splitn(3, '/');
        let tenant = TenantId::parse(parts.next()?)?;
        Some((tenant, parts.next()?.to_string(), parts.next()?.to_string()))
    }))
}

/// The person a session belongs to, if anyone. An SSO person's role is read from their user
/// groups now, so a change takes effect at their next request; a deactivated or deleted user
/// has no viewer (their session is over).
pub async fn viewer_of(services: &Services, session: &Session) -> Result<Option<Viewer>, UiError> {
    let account: Option<String> = session.get(ACCOUNT_KEY).await.map_err(session_failed)?;
    if let Some(id) = account.as_deref().and_then(AccountId::parse) {
        let signed_in_at: Option<i64> = session.get(SIGNED_IN_AT_KEY).await.map_err(session_failed)?;
        return Ok(roster_shared::service::accounts::session_viewer(&services.store, &id, signed_in_at).await?);
    }
    if let Some((tenant, user, _)) = sso_of(session).await? {
        return Ok(roster_shared::service::sso::sign_in::viewer(&services.store, &tenant, &user).await?);
    }
    Ok(None)
}

/// A new session id (no session fixation) for a console account.
pub async fn start_console(session: &Session, account_id: &AccountId) -> Result<(), UiError> {
    session.cycle_id().await.map_err(session_failed)?;
    session.remove_value(SSO_KEY).await.map_err(session_failed)?;
    session.insert(ACCOUNT_KEY, account_id.as_str()).await.map_err(session_failed)?;
    session.insert(SIGNED_IN_AT_KEY, roster_shared::clock::now_ms()).await.map_err(session_failed)?;
    Ok(())
}

/// A new session id for a person signed in through SSO.
pub async fn start_sso(
    session: &Session,
    tenant: &TenantId,
    user_id: &str,
    connection_id: &str,
) -> Result<(), UiError> {
    session.cycle_id().await.map_err(session_failed)?;
    session.remove_value(ACCOUNT_KEY).await.map_err(session_failed)?;
    session.insert(SSO_KEY, format!("{tenant}/{user_id}/{connection_id}")).await.map_err(session_failed)?;
    Ok(())
}

/// The client's address: the connection's, or behind a trusted proxy the last
/// `X-Forwarded-For` entry. (Server functions and the server's own routes both use it.)
pub fn client_ip(
    trust_forwarded_for: bool,
    headers: &http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Option<String> {
    if trust_forwarded_for {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .map(str::to_owned);
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer.map(|p| p.ip().to_string())
}

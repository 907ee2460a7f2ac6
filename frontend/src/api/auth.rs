//! Sign-up, sign-in, sign-out, and who is signed in.

use leptos::prelude::*;
use roster_shared::dto::Viewer;

use crate::error::UiError;

/// Creates an organization and its first admin, and signs the admin in.
#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(organization: String, name: String, email: String, password: String) -> Result<(), UiError> {
    use roster_shared::service::accounts;

    use super::ctx;

    let services = ctx::services()?;
    let session = ctx::session().await?;
    let throttle = Some((ctx::client_ip(&services).await, services.sign_ups_per_hour));
    let created =
        accounts::sign_up(&services.store, accounts::SignUp { organization, name, email, password, throttle }).await?;
    start_session(&session, &created.account_id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Signs in with email and password.
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), UiError> {
    use roster_shared::service::accounts;

    use super::ctx;

    let services = ctx::services()?;
    let session = ctx::session().await?;
    let client_ip = ctx::client_ip(&services).await;
    let account_id = accounts::sign_in(&services.store, accounts::SignIn { email, password, client_ip }).await?;
    start_session(&session, &account_id).await?;
    // Support staff land in the support console, admins in their organization's dashboard.
    let staff = accounts::viewer(&services.store, &account_id)
        .await?
        .is_some_and(|v| v.role == roster_shared::dto::ConsoleRole::Support);
    leptos_axum::redirect(if staff { "/support" } else { "/" });
    Ok(())
}

/// Signs out: the session is deleted from the store and its cookie cleared.
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), UiError> {
    use super::ctx;

    let session = ctx::session().await?;
    session.flush().await.map_err(ctx::session_failed)?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// The signed-in person, or `None`.
#[server(prefix = "/api", endpoint = "viewer")]
pub async fn current_viewer() -> Result<Option<Viewer>, UiError> {
    use super::ctx;

    match ctx::require_viewer().await {
        Ok(v) => Ok(Some(v)),
        Err(UiError::Unauthenticated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A new session id for a new sign-in (no session fixation), holding the account id.
#[cfg(feature = "ssr")]
async fn start_session(
    session: &tower_sessions::Session,
    account_id: &roster_shared::ids::AccountId,
) -> Result<(), UiError> {
    super::session::start_console(session, account_id).await
}

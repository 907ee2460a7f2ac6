//! The organization's admins: invitations, accepting one, changing one's password.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{InvitationInfo, NewInvitation, Team};

use crate::error::UiError;

/// The *Admins* page: the admins and the open invitations.
#[server(prefix = "/api", endpoint = "team", input = Json)]
pub async fn load_team() -> Result<Team, UiError> {
    let admin = super::ctx::require_reader().await?;
    let viewer = super::ctx::require_viewer().await?;
    let t = admin.services.store.tenant(&admin.tenant);
    Ok(Team {
        admins: t.admins().await?,
        invitations: t.open_invitations(roster_shared::clock::now_ms()).await?,
        can_change_password: !viewer.sso,
    })
}

/// Invites another admin by email (a form); the link is shown once.
#[server(prefix = "/api", endpoint = "form/invite")]
pub async fn invite(email: String) -> Result<NewInvitation, UiError> {
    let admin = super::ctx::require_admin().await?;
    let made = roster_shared::service::accounts::invite(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &email,
        &admin.services.public_url,
        admin.services.email.as_ref(),
    )
    .await?;
    // Without JavaScript the page comes back by a redirect: the link waits in the session.
    super::forms::keep_once(NEW_INVITATION_KEY, &made).await?;
    Ok(made)
}

/// The session key of an invitation a form without JavaScript just made.
#[cfg(feature = "ssr")]
const NEW_INVITATION_KEY: &str = "new_invitation";

/// The invitation a form without JavaScript just made, once (the page asks on every render).
#[server(prefix = "/api", endpoint = "new_invitation", input = Json)]
pub async fn take_new_invitation() -> Result<Option<NewInvitation>, UiError> {
    use super::ctx::{session, session_failed};
    super::ctx::require_admin().await?;
    session().await?.remove::<NewInvitation>(NEW_INVITATION_KEY).await.map_err(session_failed)
}

/// Changes the signed-in admin's own password (a form).
#[server(prefix = "/api", endpoint = "form/change_password")]
pub async fn change_password(current: String, new: String) -> Result<(), UiError> {
    use roster_shared::ids::AccountId;
    super::ctx::require_admin().await?;
    let viewer = super::ctx::require_viewer().await?;
    if viewer.sso {
        return Err(UiError::Invalid(
            "You sign in through your organization's SSO: your password is kept there.".into(),
        ));
    }
    let id = AccountId::parse(&viewer.account_id).ok_or(UiError::Unauthenticated)?;
    let services = super::ctx::services()?;
    roster_shared::service::accounts::change_password(&services.store, &id, current, new).await?;
    // The account's other sessions end; this one stays signed in.
    super::session::renew_sign_in(&super::ctx::session().await?).await
}

/// What an invitation link shows (public: the token is the permission).
#[server(prefix = "/api", endpoint = "invitation", input = Json)]
pub async fn load_invitation(token: String) -> Result<InvitationInfo, UiError> {
    let services = super::ctx::services()?;
    Ok(roster_shared::service::accounts::invitation(&services.store, &token).await?)
}

/// Accepts an invitation (a form) and signs the new admin in.
#[server(prefix = "/api", endpoint = "form/accept_invitation")]
pub async fn accept_invitation(token: String, name: String, password: String) -> Result<(), UiError> {
    let services = super::ctx::services()?;
    let session = super::ctx::session().await?;
    let id = roster_shared::service::accounts::accept_invitation(&services.store, &token, &name, password).await?;
    super::session::start_console(&session, &id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Whether this Roster sends email (the sign-in page offers "Forgot your password?" then).
#[server(prefix = "/api", endpoint = "email_available", input = Json)]
pub async fn email_available() -> Result<bool, UiError> {
    Ok(super::ctx::services()?.email.is_some())
}

/// "Forgot password" (a form): emails a reset link if the address has an account. The answer is
/// the same either way.
#[server(prefix = "/api", endpoint = "form/forgot_password")]
pub async fn forgot_password(email: String) -> Result<(), UiError> {
    let services = super::ctx::services()?;
    roster_shared::service::accounts::request_password_reset(
        &services.store,
        services.email.as_ref(),
        &email,
        &services.public_url,
    )
    .await?;
    leptos_axum::redirect("/forgot-password?sent=1");
    Ok(())
}

/// Whether a reset link still works (public: the token is the permission).
#[server(prefix = "/api", endpoint = "password_reset", input = Json)]
pub async fn check_password_reset(token: String) -> Result<(), UiError> {
    let services = super::ctx::services()?;
    Ok(roster_shared::service::accounts::password_reset_open(&services.store, &token).await?)
}

/// Sets a new password through a reset link (a form) and sends the person to sign in.
#[server(prefix = "/api", endpoint = "form/reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), UiError> {
    let services = super::ctx::services()?;
    roster_shared::service::accounts::reset_password_with_link(&services.store, &token, password).await?;
    leptos_axum::redirect("/sign-in?reset=done");
    Ok(())
}

/// The signed-in admin's notice choices: (credentials about to expire, IdP failing, changes
/// held by the deprovisioning brake); `None`
/// for people signed in through SSO (notices go to password accounts) or without email.
#[server(prefix = "/api", endpoint = "notices", input = Json)]
pub async fn load_notices() -> Result<Option<(bool, bool, bool)>, UiError> {
    use roster_shared::ids::AccountId;
    super::ctx::require_admin().await?;
    let viewer = super::ctx::require_viewer().await?;
    let services = super::ctx::services()?;
    let Some(id) = AccountId::parse(&viewer.account_id).filter(|_| !viewer.sso && services.email.is_some()) else {
        return Ok(None);
    };
    Ok(Some(services.store.notification_choices(&id).await?))
}

/// Saves the signed-in admin's notice choices (a form of checkboxes: a missing one is off).
#[server(prefix = "/api", endpoint = "form/notices")]
pub async fn save_notices(
    credentials: Option<String>,
    idp_failures: Option<String>,
    held_changes: Option<String>,
) -> Result<(), UiError> {
    use roster_shared::ids::AccountId;
    super::ctx::require_admin().await?;
    let viewer = super::ctx::require_viewer().await?;
    if viewer.sso {
        return Err(UiError::Invalid("Notices go to admins who sign in with a password.".into()));
    }
    let id = AccountId::parse(&viewer.account_id).ok_or(UiError::Unauthenticated)?;
    let services = super::ctx::services()?;
    Ok(services
        .store
        .set_notification_choices(&id, credentials.is_some(), idp_failures.is_some(), held_changes.is_some())
        .await?)
}

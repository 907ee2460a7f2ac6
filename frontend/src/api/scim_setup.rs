//! The SCIM provisioning page: the switch, credentials, and the IdP's traffic.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{NewSecret, ScimSetup};

use crate::error::UiError;

/// Everything the SCIM page shows.
#[server(prefix = "/api", endpoint = "scim_setup", input = Json)]
pub async fn load_scim_setup() -> Result<ScimSetup, UiError> {
    let admin = super::ctx::require_reader().await?;
    admin.services.activity.flush().await;
    Ok(roster_shared::service::scim_setup::setup(&admin.services.store, &admin.tenant, &admin.services.public_url)
        .await?)
}

/// Switches SCIM on or off.
#[server(prefix = "/api", endpoint = "scim_enable", input = Json)]
pub async fn set_scim_enabled(enabled: bool) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::scim_setup::set_enabled(&admin.services.store, &admin.tenant, &admin.actor, enabled)
        .await?)
}

/// Makes a credential (`bearer`, `basic` or `oauth_client`); its secret is in the answer, once.
#[server(prefix = "/api", endpoint = "scim_credential_create", input = Json)]
pub async fn create_credential(kind: String, name: String, expires_in_days: Option<u32>) -> Result<NewSecret, UiError> {
    use roster_shared::service::scim_setup::{self, CredentialKind};
    let admin = super::ctx::require_admin().await?;
    let kind = CredentialKind::parse(&kind).ok_or_else(|| UiError::Invalid("Unknown kind of credential.".into()))?;
    Ok(scim_setup::create(
        &admin.services.store,
        &admin.tenant,
        &admin.services.public_url,
        &admin.actor,
        kind,
        &name,
        expires_in_days,
    )
    .await?)
}

/// Revokes a credential.
#[server(prefix = "/api", endpoint = "scim_credential_revoke", input = Json)]
pub async fn revoke_credential(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::scim_setup::revoke(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}

/// A new credential like an existing one; the old keeps working until revoked.
#[server(prefix = "/api", endpoint = "scim_credential_rotate", input = Json)]
pub async fn rotate_credential(id: String) -> Result<NewSecret, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::scim_setup::rotate(
        &admin.services.store,
        &admin.tenant,
        &admin.services.public_url,
        &admin.actor,
        &id,
    )
    .await?)
}

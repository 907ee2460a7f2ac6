//! Single sign-on: the SSO page's data and forms, *My access*, and the public choice of an
//! organization's connections.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::SsoSetup;

use crate::error::UiError;

/// The SSO page: connections, Roster's values for each, the sign-in log.
#[server(prefix = "/api", endpoint = "sso_setup", input = Json)]
pub async fn load_sso_setup() -> Result<SsoSetup, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::sso::connections::setup(
        &admin.services.store,
        &admin.services.public_url,
        &admin.tenant,
    )
    .await?)
}

/// Creates a SAML connection from pasted metadata, a metadata URL, or typed values (a form).
#[server(prefix = "/api", endpoint = "form/sso_saml_create")]
pub async fn sso_saml_create(
    name: String,
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    entity_id: Option<String>,
    sso_url: Option<String>,
    certificates: Option<String>,
) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    let input = roster_shared::dto::SamlConnectionInput {
        name,
        metadata_xml: metadata_xml.unwrap_or_default(),
        metadata_url: metadata_url.unwrap_or_default(),
        entity_id: entity_id.unwrap_or_default(),
        sso_url: sso_url.unwrap_or_default(),
        certificates: certificates.unwrap_or_default(),
    };
    let c = roster_shared::service::sso::connections::create_saml(
        &admin.services.store,
        &admin.services.sso,
        &admin.tenant,
        &admin.actor,
        &input,
    )
    .await?;
    Ok(c.id)
}

/// Creates an OIDC connection (a form).
#[server(prefix = "/api", endpoint = "form/sso_oidc_create")]
pub async fn sso_oidc_create(
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: Option<String>,
) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    let input = roster_shared::dto::OidcConnectionInput {
        name,
        issuer,
        client_id,
        client_secret,
        scopes: scopes.unwrap_or_default(),
    };
    let c = roster_shared::service::sso::connections::create_oidc(
        &admin.services.store,
        &admin.services.sso,
        &admin.tenant,
        &admin.actor,
        &input,
    )
    .await?;
    Ok(c.id)
}

/// Switches a connection on or off, and IdP-initiated sign-in (a form: checkboxes send `on`).
#[server(prefix = "/api", endpoint = "form/sso_connection_flags")]
pub async fn sso_connection_flags(
    id: String,
    enabled: Option<String>,
    allow_idp_initiated: Option<String>,
) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    let on = |v: &Option<String>| matches!(v.as_deref(), Some("on" | "true"));
    Ok(roster_shared::service::sso::connections::set_flags(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &id,
        on(&enabled),
        on(&allow_idp_initiated),
    )
    .await?)
}

/// Deletes a connection (a form).
#[server(prefix = "/api", endpoint = "form/sso_connection_delete")]
pub async fn sso_connection_delete(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::sso::connections::delete(&admin.services.store, &admin.tenant, &admin.actor, &id)
        .await?)
}

/// *My access*: the signed-in SSO person's own user, groups and role.
#[server(prefix = "/api", endpoint = "my_access", input = Json)]
pub async fn load_my_access() -> Result<roster_shared::dto::MyAccess, UiError> {
    let services = super::ctx::services()?;
    let session = super::ctx::session().await?;
    let Some((tenant, user, connection)) = super::session::sso_of(&session).await? else {
        return Err(UiError::Unauthenticated);
    };
    // A deactivated or deleted user's session is over.
    if roster_shared::service::sso::sign_in::viewer(&services.store, &tenant, &user).await?.is_none() {
        return Err(UiError::Unauthenticated);
    }
    Ok(roster_shared::service::sso::sign_in::my_access(&services.store, &tenant, &user, &connection).await?)
}

/// An organization's enabled connections, for its people to pick one (`/sso/t/{tenant}`):
/// the organization's name and each connection's name and sign-in URL.
#[server(prefix = "/api", endpoint = "sso_choices", input = Json)]
pub async fn sso_choices(tenant: String) -> Result<(String, Vec<(String, String)>), UiError> {
    let services = super::ctx::services()?;
    let unknown = || UiError::Invalid("There is no organization with this sign-in link.".into());
    let tenant = roster_shared::ids::TenantId::parse(&tenant).ok_or_else(unknown)?;
    let summary = services.store.tenant(&tenant).summary().await?.ok_or_else(unknown)?;
    let connections = services.store.tenant(&tenant).sso_connections().await?;
    let choices = connections
        .into_iter()
        .filter(|c| c.enabled)
        .map(|c| {
            let url = roster_shared::service::sso::sp_values(&services.public_url, c.protocol, &c.id).sign_in_url;
            (c.name, url)
        })
        .collect();
    Ok((summary.name, choices))
}

/// Adds an email domain to verify (a form).
#[server(prefix = "/api", endpoint = "form/sso_domain_add")]
pub async fn sso_domain_add(domain: String) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::sso::domains::add(&admin.services.store, &admin.tenant, &admin.actor, &domain).await?)
}

/// Verifies a domain by its DNS TXT record (a form).
#[server(prefix = "/api", endpoint = "form/sso_domain_verify")]
pub async fn sso_domain_verify(domain: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::sso::domains::verify(
        &admin.services.store,
        admin.services.sso.dns_resolver,
        &admin.tenant,
        &admin.actor,
        &domain,
        false,
    )
    .await?)
}

/// Removes a domain (a form).
#[server(prefix = "/api", endpoint = "form/sso_domain_remove")]
pub async fn sso_domain_remove(domain: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::sso::domains::remove(&admin.services.store, &admin.tenant, &admin.actor, &domain)
        .await?)
}

/// Saves a connection's just-in-time provisioning (a form: the switch, the update policy, the
/// link key, the preset and the claim names).
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "form/sso_connection_jit")]
pub async fn sso_connection_jit(
    id: String,
    enabled: Option<String>,
    update: String,
    link_key: String,
    preset: String,
    unique_user_id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    groups: Option<String>,
    attributes: Option<String>,
) -> Result<(), UiError> {
    use roster_shared::dto::{ClaimPreset, JitSettings, JitUpdate, LinkKey};
    let admin = super::ctx::require_admin().await?;
    let invalid = |what: &str| UiError::Invalid(format!("Unknown {what}."));
    let wanted = JitSettings {
        enabled: matches!(enabled.as_deref(), Some("on" | "true")),
        update: JitUpdate::parse(&update).ok_or_else(|| invalid("update policy"))?,
        link_key: LinkKey::parse(&link_key).ok_or_else(|| invalid("link key"))?,
        preset: ClaimPreset::parse(&preset).ok_or_else(|| invalid("preset"))?,
        claims: Default::default(),
    };
    let typed = roster_shared::service::sso::jit::MappingForm {
        unique_user_id: unique_user_id.unwrap_or_default(),
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        email: email.unwrap_or_default(),
        groups: groups.unwrap_or_default(),
        attributes: attributes.unwrap_or_default(),
    };
    roster_shared::service::sso::jit::save(&admin.services.store, &admin.tenant, &admin.actor, &id, wanted, &typed)
        .await?;
    Ok(())
}

/// Links an IdP identity to a user, from the user's page (a form).
#[server(prefix = "/api", endpoint = "form/sso_link_identity")]
pub async fn sso_link_identity(user_id: String, connection_id: String, subject: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::sso::sign_in::link_identity(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &user_id,
        &connection_id,
        &subject,
    )
    .await?)
}

/// Removes an identity's link to a user (a form).
#[server(prefix = "/api", endpoint = "form/sso_unlink_identity")]
pub async fn sso_unlink_identity(user_id: String, connection_id: String, subject: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::sso::sign_in::unlink_identity(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &user_id,
        &connection_id,
        &subject,
    )
    .await?)
}

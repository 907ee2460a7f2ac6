//! The dashboard's main actions as HTML forms.
//!
//! Each function here takes the fields of a `<form method="post">` (url-encoded, as browsers
//! send them) and calls the same domain service as the JSON function of the admin API. The pages
//! render these forms with `components::action_form::ActionForm` (Leptos' own, reading the fields
//! with `serde_json`): once the page is hydrated, a submit becomes a
//! `fetch` and the answer updates the page in place; before hydration (a click while the wasm
//! loads) and without JavaScript, the browser posts the form itself, the server does the same
//! work and sends it back to the page it came from (`303`, Leptos' form redirect), which then
//! shows the new state. An error comes back in that page's URL and is shown by the form.
//!
//! A new credential's secret cannot travel in a URL: when a form without JavaScript made it,
//! it waits in the admin's session, and the SCIM page's next render takes it out and shows it
//! once ([`take_new_secret`]).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{Assigned, NewSecret, UserGroupView};

use crate::error::UiError;

/// Switches SCIM on (`enabled=true`) or off.
#[server(prefix = "/api", endpoint = "form/scim_enable")]
pub async fn scim_switch(enabled: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    let on = flag(&enabled)?;
    Ok(roster_shared::service::scim_setup::set_enabled(&admin.services.store, &admin.tenant, &admin.actor, on).await?)
}

/// Makes a credential: `kind` (`bearer`, `basic`, `oauth_client`), `name`, `expires` (days, or
/// `never`).
#[server(prefix = "/api", endpoint = "form/credential_create")]
pub async fn credential_create(name: String, kind: String, expires: Option<String>) -> Result<NewSecret, UiError> {
    use roster_shared::service::scim_setup::{self, CredentialKind};
    let admin = super::ctx::require_admin().await?;
    let kind = CredentialKind::parse(&kind).ok_or_else(|| UiError::Invalid("Unknown kind of credential.".into()))?;
    let days = match (kind, expires.as_deref().map(str::trim)) {
        // OAuth clients do not expire; their access tokens do.
        (CredentialKind::OauthClient, _) | (_, None | Some("") | Some("never")) => None,
        (_, Some(days)) => {
            Some(days.parse::<u32>().map_err(|_| UiError::Invalid("Choose when the credential expires.".into()))?)
        }
    };
    let secret = scim_setup::create(
        &admin.services.store,
        &admin.tenant,
        &admin.services.public_url,
        &admin.actor,
        kind,
        &name,
        days,
    )
    .await?;
    keep_for_the_next_page(&secret).await?;
    Ok(secret)
}

/// Revokes a credential.
#[server(prefix = "/api", endpoint = "form/credential_revoke")]
pub async fn credential_revoke(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::scim_setup::revoke(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}

/// Makes a credential like an existing one (the old one keeps working until revoked).
#[server(prefix = "/api", endpoint = "form/credential_rotate")]
pub async fn credential_rotate(id: String) -> Result<NewSecret, UiError> {
    let admin = super::ctx::require_admin().await?;
    let secret = roster_shared::service::scim_setup::rotate(
        &admin.services.store,
        &admin.tenant,
        &admin.services.public_url,
        &admin.actor,
        &id,
    )
    .await?;
    keep_for_the_next_page(&secret).await?;
    Ok(secret)
}

/// The secret a form without JavaScript just made, once (the SCIM page asks on every render).
#[server(prefix = "/api", endpoint = "new_secret", input = Json)]
pub async fn take_new_secret() -> Result<Option<NewSecret>, UiError> {
    use super::ctx::{session, session_failed};
    super::ctx::require_admin().await?;
    let session = session().await?;
    session.remove::<NewSecret>(NEW_SECRET_KEY).await.map_err(session_failed)
}

/// Sets a user group's seat limit (`seat_limit` empty: no limit).
#[server(prefix = "/api", endpoint = "form/user_group_seats")]
pub async fn user_group_seats(group_id: String, seat_limit: Option<String>) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    let limit = match seat_limit.as_deref().map(|s| s.trim().replace(',', "")) {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            UiError::Invalid("Enter the seat limit as a whole number, or leave it empty for none.".into())
        })?),
    };
    Ok(roster_shared::service::user_groups::set_seat_limit(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &group_id,
        limit,
    )
    .await?)
}

/// Creates a user group.
#[server(prefix = "/api", endpoint = "form/user_group_create")]
pub async fn user_group_create(
    name: String,
    role: String,
    description: Option<String>,
) -> Result<UserGroupView, UiError> {
    use roster_shared::dto::{GroupRole, UserGroupInput};
    let admin = super::ctx::require_admin().await?;
    let role = GroupRole::parse(&role).ok_or_else(|| UiError::Invalid("Choose a role.".into()))?;
    let input = UserGroupInput { name, description: description.unwrap_or_default(), role };
    Ok(roster_shared::service::user_groups::create(&admin.services.store, &admin.tenant, &admin.actor, &input).await?)
}

/// Puts the ticked users (`user_ids[]`) in a user group.
#[server(prefix = "/api", endpoint = "form/user_group_assign")]
pub async fn user_group_assign(group_id: String, user_ids: Option<Vec<String>>) -> Result<Assigned, UiError> {
    let admin = super::ctx::require_admin().await?;
    let user_ids = user_ids.unwrap_or_default();
    if user_ids.is_empty() {
        return Err(UiError::Invalid("Select the users to assign first.".into()));
    }
    if group_id.trim().is_empty() {
        return Err(UiError::Invalid("Choose the user group to assign them to.".into()));
    }
    Ok(roster_shared::service::user_groups::assign(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &group_id,
        &user_ids,
    )
    .await?)
}

/// Adds a mapping rule: `kind` `idp_group` (with `idp_group`) or `attribute` (with `filter`),
/// placing users in `user_group_id`.
#[server(prefix = "/api", endpoint = "form/mapping_rule_create")]
pub async fn mapping_rule_create(
    kind: String,
    user_group_id: String,
    idp_group: Option<String>,
    filter: Option<String>,
) -> Result<String, UiError> {
    use roster_shared::rules::{Condition, RuleDef};
    let admin = super::ctx::require_admin().await?;
    let condition = match kind.as_str() {
        "idp_group" => Condition::IdpGroup { group_id: idp_group.unwrap_or_default() },
        "attribute" => Condition::Attribute { filter: filter.unwrap_or_default() },
        _ => return Err(UiError::Invalid("Choose what the rule matches.".into())),
    };
    let rule = RuleDef { id: String::new(), condition, user_group_id, enabled: true };
    Ok(roster_shared::service::mappings::create(&admin.services.store, &admin.tenant, &admin.actor, &rule).await?)
}

/// The session key of a secret waiting to be shown.
#[cfg(feature = "ssr")]
const NEW_SECRET_KEY: &str = "new_secret";

/// `true`/`on` or `false`/`off`.
#[cfg(feature = "ssr")]
fn flag(value: &str) -> Result<bool, UiError> {
    match value {
        "true" | "on" => Ok(true),
        "false" | "off" => Ok(false),
        _ => Err(UiError::Invalid("Expected on or off.".into())),
    }
}

/// When the browser posted the form itself (no JavaScript: it wants the page back, not
/// data), the secret is kept in the session for the page it is sent back to.
#[cfg(feature = "ssr")]
async fn keep_for_the_next_page(secret: &NewSecret) -> Result<(), UiError> {
    keep_once(NEW_SECRET_KEY, secret).await
}

/// Keeps `value` in the session under `key` for the page a form without JavaScript is sent
/// back to (which takes it out and shows it once); nothing when the page posted by `fetch`.
#[cfg(feature = "ssr")]
pub(crate) async fn keep_once<T: serde::Serialize + Send + Sync>(key: &str, value: &T) -> Result<(), UiError> {
    use super::ctx::{session, session_failed};
    let wants_page = leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|p| {
            p.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(|a| a.contains("text/html"))
        })
        .unwrap_or(false);
    if wants_page {
        session().await?.insert(key, value).await.map_err(session_failed)?;
    }
    Ok(())
}

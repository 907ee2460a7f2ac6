//! The *Integrations* page: API keys for the read API and webhook endpoints with their
//! deliveries. The actions are url-encoded forms (they work before hydration and without
//! JavaScript; see [`super::forms`]); a new secret made without JavaScript waits once in the
//! session for the page.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
#[cfg(feature = "ssr")]
use roster_shared::dto::DeliveryView;
use roster_shared::dto::{Integrations, NewIntegrationSecret};

use crate::error::UiError;

#[cfg(feature = "ssr")]
const NEW_INTEGRATION_SECRET_KEY: &str = "new_integration_secret";

/// The keys and endpoints.
#[server(prefix = "/api", endpoint = "integrations", input = Json)]
pub async fn load_integrations() -> Result<Integrations, UiError> {
    let admin = super::ctx::require_reader().await?;
    let s = &admin.services;
    Ok(roster_shared::service::webhooks::integrations(&s.store, &admin.tenant, &s.public_url, s.event_retention_days)
        .await?)
}

/// The secret a form without JavaScript made, once.
#[server(prefix = "/api", endpoint = "integration_secret", input = Json)]
pub async fn take_integration_secret() -> Result<Option<NewIntegrationSecret>, UiError> {
    use super::ctx::{session, session_failed};
    super::ctx::require_admin().await?;
    let session = session().await?;
    session.remove::<NewIntegrationSecret>(NEW_INTEGRATION_SECRET_KEY).await.map_err(session_failed)
}

/// Creates an API key.
#[server(prefix = "/api", endpoint = "form/api_key_create")]
pub async fn api_key_create(name: String) -> Result<NewIntegrationSecret, UiError> {
    let admin = super::ctx::require_admin().await?;
    let (key, secret) =
        roster_shared::service::api_keys::create(&admin.services.store, &admin.tenant, &admin.actor, &name).await?;
    let made = NewIntegrationSecret { kind: "api_key".into(), name: key.name, secret };
    super::forms::keep_once(NEW_INTEGRATION_SECRET_KEY, &made).await?;
    Ok(made)
}

/// Revokes an API key.
#[server(prefix = "/api", endpoint = "form/api_key_revoke")]
pub async fn api_key_revoke(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::api_keys::revoke(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}

/// Adds a webhook endpoint: `url`, `description`, the ticked `types[]` (none: all).
#[server(prefix = "/api", endpoint = "form/webhook_create")]
pub async fn webhook_create(
    url: String,
    description: Option<String>,
    types: Option<Vec<String>>,
) -> Result<NewIntegrationSecret, UiError> {
    let admin = super::ctx::require_admin().await?;
    let s = &admin.services;
    let (_, secret) = roster_shared::service::webhooks::create(
        &s.store,
        &s.sso.key,
        s.webhooks.allows_loopback(),
        &admin.tenant,
        &admin.actor,
        &url,
        description.as_deref().unwrap_or_default(),
        &types.unwrap_or_default(),
    )
    .await?;
    let made = NewIntegrationSecret { kind: "webhook".into(), name: url.trim().to_string(), secret };
    super::forms::keep_once(NEW_INTEGRATION_SECRET_KEY, &made).await?;
    Ok(made)
}

/// An endpoint action: `action` is `test` (send a test event), `retry` (end its failures),
/// `enable`, `disable` or `delete`. Returns what happened, in a sentence.
#[server(prefix = "/api", endpoint = "form/webhook_action")]
pub async fn webhook_action(id: String, action: String) -> Result<String, UiError> {
    use roster_shared::service::webhooks;
    let admin = super::ctx::require_admin().await?;
    let (s, tenant, actor) = (&admin.services, &admin.tenant, &admin.actor);
    match action.as_str() {
        "test" => {
            let d = webhooks::send_test(&s.store, &s.sso.key, &s.webhooks, tenant, actor, &id).await?;
            Ok(delivered("The test event", &d))
        }
        "retry" => {
            webhooks::retry(&s.store, tenant, actor, &id).await?;
            Ok("Delivery resumes now, from the first event the endpoint has not received.".into())
        }
        "enable" | "disable" => {
            let e = s.store.tenant(tenant).endpoint(&id).await?.ok_or(roster_shared::error::DomainError::NotFound)?;
            let types: Vec<String> = e.types.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect();
            let on = action == "enable";
            webhooks::update(
                &s.store,
                s.webhooks.allows_loopback(),
                tenant,
                actor,
                &id,
                &e.url,
                &e.description,
                &types,
                on,
            )
            .await?;
            Ok(if on {
                "The endpoint is on: it receives the events it missed, then new ones.".into()
            } else {
                "The endpoint is off: events wait for it (as long as they are kept).".into()
            })
        }
        "delete" => {
            webhooks::delete(&s.store, tenant, actor, &id).await?;
            Ok("The endpoint is deleted.".into())
        }
        _ => Err(UiError::Invalid("Unknown action.".into())),
    }
}

/// Sends a delivery's event again.
#[server(prefix = "/api", endpoint = "form/webhook_resend")]
pub async fn webhook_resend(delivery: String) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    let s = &admin.services;
    let d =
        roster_shared::service::webhooks::resend(&s.store, &s.sso.key, &s.webhooks, &admin.tenant, &delivery).await?;
    Ok(delivered("The event", &d))
}

/// "The event was delivered (HTTP 200, 12 ms)." or why not.
#[cfg(feature = "ssr")]
fn delivered(what: &str, d: &DeliveryView) -> String {
    match (d.ok, d.status_code) {
        (true, Some(code)) => format!("{what} was delivered (HTTP {code}, {} ms).", d.latency_ms),
        (true, None) => format!("{what} was delivered."),
        (false, _) => format!("{what} was not delivered: {}", d.error.clone().unwrap_or_default()),
    }
}

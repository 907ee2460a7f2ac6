//! API keys: how the platform's applications authenticate to the read API (events, users,
//! groups, user groups). A key belongs to one organization and only reads; its secret
//! (`rk_` + 40 random characters) is shown once and stored as its SHA-256 (a random 238-bit
//! secret needs no slow hash); an admin names, lists and revokes keys on the *Integrations*
//! page, which shows when each was last used (to the minute).

use sha2::{Digest, Sha256};

use super::activity::{self, Actor};
use crate::clock::now_ms;
use crate::dto::events::ApiKeyView;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{ApiKeyRecord, Store};

/// Keys an organization may have (revoked ones included).
pub const MAX_KEYS: usize = 50;

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn view(k: &ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        created_at: k.created_at,
        created_by: k.created_by.clone(),
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    }
}

/// The organization's keys, newest first.
pub async fn list(store: &Store, tenant: &TenantId) -> DomainResult<Vec<ApiKeyView>> {
    Ok(store.tenant(tenant).api_keys().await?.iter().map(view).collect())
}

/// Creates a key; returns it and its secret (shown once).
pub async fn create(store: &Store, tenant: &TenantId, actor: &Actor, name: &str) -> DomainResult<(ApiKeyView, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::Invalid(
            "Name the key (at most 100 characters), e.g. the application that uses it.".into(),
        ));
    }
    let t = store.tenant(tenant);
    if t.api_keys().await?.len() >= MAX_KEYS {
        return Err(DomainError::Invalid(format!(
            "An organization has at most {MAX_KEYS} API keys; delete revoked ones first."
        )));
    }
    let secret = {
        use rand::distributions::{Alphanumeric, DistString};
        format!("rk_{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 40))
    };
    let id = uuid::Uuid::new_v4().to_string();
    let prefix: String = secret.chars().take(9).collect();
    let now = now_ms();
    t.insert_api_key(&id, name, &prefix, &hash(&secret), &actor.name, now).await?;
    t.record_activity(&activity::action(
        actor,
        "ApiKey",
        Some(&id),
        &format!("created API key \"{name}\" ({prefix}…)"),
        now,
    ))
    .await?;
    let key = t.api_keys().await?.into_iter().find(|k| k.id == id).ok_or(DomainError::NotFound)?;
    Ok((view(&key), secret))
}

/// Revokes a key: requests with it are refused from now on.
pub async fn revoke(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let t = store.tenant(tenant);
    let key = t.api_keys().await?.into_iter().find(|k| k.id == id).ok_or(DomainError::NotFound)?;
    let now = now_ms();
    if !t.revoke_api_key(id, now).await? {
        return Err(DomainError::Invalid("That key is already revoked.".into()));
    }
    t.record_activity(&activity::action(actor, "ApiKey", Some(id), &format!("revoked API key \"{}\"", key.name), now))
        .await
}

/// The organization and key a secret belongs to, if it is a live key of an organization that
/// is not disabled. Notes the use (at most once a minute per key).
pub async fn authenticate(store: &Store, secret: &str) -> DomainResult<Option<(TenantId, String)>> {
    if !secret.starts_with("rk_") || secret.len() > 100 {
        return Ok(None);
    }
    let Some(key) = store.api_key_by_hash(&hash(secret)).await? else { return Ok(None) };
    if key.revoked_at.is_some() {
        return Ok(None);
    }
    let Some(tenant) = TenantId::parse(&key.tenant_id) else { return Ok(None) };
    match store.tenant(&tenant).summary().await? {
        Some(s) if s.disabled_at_ms.is_none() => {}
        _ => return Ok(None),
    }
    let now = now_ms();
    if key.last_used_at.is_none_or(|t| now - t >= 60_000) {
        store.touch_api_key(&key.id, now).await?;
    }
    Ok(Some((tenant, key.id)))
}

//! SCIM credentials: bearer tokens an identity provider sends with every request.
//!
//! A token is `rst_` followed by 40 random alphanumerics (about 238 bits). Only its SHA-256 is
//! stored; a slow hash would add nothing against guessing a secret that long, and would cost
//! every SCIM request a few milliseconds. The token is shown once, at creation. Every failure —
//! unknown token, another tenant's token, revoked, expired, SCIM switched off — looks the same
//! to the caller, so a credential never reveals whether another tenant exists.

use std::fmt;

use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::dto::CredentialKind;
use crate::error::{DomainError, DomainResult};
use crate::ids::{CredentialId, TenantId};
use crate::store::{CredentialRecord, NewCredential, Store, TenantTx};

/// The prefix of every Roster SCIM token (lets secret scanners recognize leaked tokens).
pub const TOKEN_PREFIX: &str = "rst_";

/// The prefix of HTTP Basic passwords.
pub const BASIC_PREFIX: &str = "rsp_";

/// The prefix of OAuth client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "rsc_";

/// How long an access token issued to an OAuth client lives.
pub const ACCESS_TOKEN_TTL_MS: i64 = 60 * 60 * 1000;

/// `last_used_at` is written at most this often per credential.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A secret as shown once to the person who created it. Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// The secret text (to show once, or to send as a client).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

/// The SHA-256 of a secret, in hex.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
fn new_secret() -> (TokenSecret, String) {
    new_secret_with(TOKEN_PREFIX)
}

fn new_secret_with(kind_prefix: &str) -> (TokenSecret, String) {
    let random = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    let secret = format!("{kind_prefix}{random}");
    let prefix = secret.chars().take(kind_prefix.len() + 6).collect();
    (TokenSecret(secret), prefix)
}

/// How the secrets of a kind begin (so that a leaked one is recognised, and a client secret is
/// never tried as a bearer token).
fn secret_prefix(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Bearer => TOKEN_PREFIX,
        CredentialKind::Basic => BASIC_PREFIX,
        CredentialKind::OauthClient => CLIENT_SECRET_PREFIX,
    }
}

/// Creates a bearer token for a tenant; returns the stored record and the secret (once).
pub async fn create_token(
    store: &Store,
    tenant: &TenantId,
    name: &str,
    created_by: &str,
    expires_in_days: Option<u32>,
) -> DomainResult<(CredentialRecord, TokenSecret)> {
    create(store, tenant, CredentialKind::Bearer, name, created_by, expires_in_days).await
}

/// Creates an HTTP Basic credential: the user name is the record's id, the password the secret
/// (shown once).
pub async fn create_basic(
    store: &Store,
    tenant: &TenantId,
    name: &str,
    created_by: &str,
    expires_in_days: Option<u32>,
) -> DomainResult<(CredentialRecord, TokenSecret)> {
    create(store, tenant, CredentialKind::Basic, name, created_by, expires_in_days).await
}

/// Creates an OAuth 2.0 client (client credentials grant): the client id is the record's id,
/// the client secret is shown once.
pub async fn create_oauth_client(
    store: &Store,
    tenant: &TenantId,
    name: &str,
    created_by: &str,
) -> DomainResult<(CredentialRecord, TokenSecret)> {
    create(store, tenant, CredentialKind::OauthClient, name, created_by, None).await
}

/// An access token issued at the token endpoint.
#[derive(Debug)]
pub struct AccessToken {
    /// The bearer token.
    pub token: TokenSecret,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// The client credentials grant (RFC 6749 section 4.4): checks the client and issues a
/// short-lived bearer token, stored like any other (so every instance accepts it, and revoking
/// the client revokes its tokens). `None` for a wrong, revoked or foreign client.
pub async fn client_credentials_grant(
    store: &Store,
    tenant: &TenantId,
    client_id: &str,
    client_secret: &str,
) -> DomainResult<Option<AccessToken>> {
    if !client_secret.starts_with(CLIENT_SECRET_PREFIX) || client_secret.len() > 200 {
        return Ok(None);
    }
    let Some(id) = CredentialId::parse(client_id.trim()) else {
        return Ok(None);
    };
    let Some(client) = authenticate(store, tenant, client_secret, CredentialKind::OauthClient, Some(&id)).await? else {
        return Ok(None);
    };
    let now = now_ms();
    let (token, prefix) = new_secret_with(TOKEN_PREFIX);
    let record = NewCredential {
        id: CredentialId::random(),
        kind: CredentialKind::Bearer,
        name: format!("access token for OAuth client {}", client.name),
        prefix,
        secret_hash: hash_secret(token.expose()),
        created_by: format!("oauth:{}", client.id),
        created_at: now,
        expires_at: Some(now + ACCESS_TOKEN_TTL_MS),
    };
    let summary = format!(
        "OAuth client {} was granted an access token (valid {} minutes)",
        client.name,
        ACCESS_TOKEN_TTL_MS / 60_000
    );
    let actor = crate::service::activity::Actor { kind: "scim", name: client.name.clone() };
    let mut tx = store.tenant(tenant).begin().await?;
    tx.insert_credential(&record).await?;
    tx.record_activity(&[crate::service::activity::action(
        &actor,
        "Credential",
        Some(client.id.as_str()),
        &summary,
        now,
    )])
    .await?;
    tx.commit().await?;
    Ok(Some(AccessToken { token, expires_in: ACCESS_TOKEN_TTL_MS / 1000 }))
}

/// Makes a credential in a transaction of its own (the CLI's and the tests' way; the dashboard
/// records who made it in the same transaction, see `scim_setup`).
async fn create(
    store: &Store,
    tenant: &TenantId,
    kind: CredentialKind,
    name: &str,
    created_by: &str,
    expires_in_days: Option<u32>,
) -> DomainResult<(CredentialRecord, TokenSecret)> {
    if store.tenant(tenant).summary().await?.is_none() {
        return Err(DomainError::NotFound);
    }
    let mut tx = store.tenant(tenant).begin().await?;
    let made = create_in(&mut tx, kind, name, created_by, expires_in_days).await?;
    tx.commit().await?;
    Ok(made)
}

/// Makes a credential inside `tx` (the caller commits); returns it and its secret.
pub(crate) async fn create_in(
    tx: &mut TenantTx<'_>,
    kind: CredentialKind,
    name: &str,
    created_by: &str,
    expires_in_days: Option<u32>,
) -> DomainResult<(CredentialRecord, TokenSecret)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::Invalid(
            "Give the token a name of 1 to 100 characters (for example \"Okta production\").".into(),
        ));
    }
    if expires_in_days == Some(0) || expires_in_days.is_some_and(|d| d > 3650) {
        return Err(DomainError::Invalid("A token expires after 1 to 3650 days, or never.".into()));
    }
    let now = now_ms();
    let (secret, prefix) = new_secret_with(secret_prefix(kind));
    let record = NewCredential {
        id: CredentialId::random(),
        kind,
        name: name.to_string(),
        prefix,
        secret_hash: hash_secret(secret.expose()),
        created_by: created_by.to_string(),
        created_at: now,
        expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
    };
    tx.insert_credential(&record).await?;
    let stored = CredentialRecord {
        id: record.id,
        kind: record.kind,
        name: record.name,
        prefix: record.prefix,
        created_by: record.created_by,
        created_at: record.created_at,
        expires_at: record.expires_at,
        revoked_at: None,
        last_used_at: None,
        replaced_by: None,
    };
    Ok((stored, secret))
}

/// Revokes a credential (and, for an OAuth client, the access tokens issued to it); returns
/// whether it existed and was not already revoked.
pub async fn revoke(store: &Store, tenant: &TenantId, id: &CredentialId) -> DomainResult<bool> {
    let mut tx = store.tenant(tenant).begin().await?;
    let revoked = revoke_in(&mut tx, id).await?;
    tx.commit().await?;
    store.tenant(tenant).cached_settings_changed().await?;
    Ok(revoked)
}

/// [`revoke`] inside `tx`; the caller commits, then drops the cached credentials
/// (`cached_settings_changed`).
pub(crate) async fn revoke_in(tx: &mut TenantTx<'_>, id: &CredentialId) -> DomainResult<bool> {
    let now = now_ms();
    let revoked = tx.revoke_credential(id, now).await?;
    tx.revoke_issued_by(&format!("oauth:{id}"), now).await?;
    Ok(revoked)
}

/// Switches the tenant's SCIM API on or off.
pub async fn set_scim_enabled(store: &Store, tenant: &TenantId, enabled: bool) -> DomainResult<()> {
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.set_scim_enabled(enabled, now_ms()).await? {
        return Err(DomainError::NotFound);
    }
    tx.commit().await?;
    store.tenant(tenant).cached_settings_changed().await
}

/// Checks a bearer token sent to `tenant`'s SCIM URL; returns the credential if it may be used.
pub async fn authenticate_bearer(
    store: &Store,
    tenant: &TenantId,
    token: &str,
) -> DomainResult<Option<CredentialRecord>> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    authenticate(store, tenant, token, CredentialKind::Bearer, None).await
}

/// Checks HTTP Basic credentials (user name: the credential's id; password: its secret).
pub async fn authenticate_basic(
    store: &Store,
    tenant: &TenantId,
    user: &str,
    password: &str,
) -> DomainResult<Option<CredentialRecord>> {
    if !password.starts_with(BASIC_PREFIX) || password.len() > 200 {
        return Ok(None);
    }
    let Some(id) = CredentialId::parse(user.trim()) else {
        return Ok(None);
    };
    authenticate(store, tenant, password, CredentialKind::Basic, Some(&id)).await
}

async fn authenticate(
    store: &Store,
    tenant: &TenantId,
    token: &str,
    kind: CredentialKind,
    id: Option<&CredentialId>,
) -> DomainResult<Option<CredentialRecord>> {
    let t = store.tenant(tenant);
    let Some(found) = t.credential_for_secret(&hash_secret(token)).await? else {
        return Ok(None);
    };
    let now = now_ms();
    let valid = found.credential.kind == kind
        && id.is_none_or(|id| *id == found.credential.id)
        && found.credential.revoked_at.is_none()
        && found.credential.expires_at.is_none_or(|e| e > now);
    if valid && found.tenant_disabled {
        // Only a caller with a valid credential learns why.
        return Err(DomainError::OrganizationDisabled);
    }
    if !found.scim_enabled
        || found.credential.kind != kind
        || id.is_some_and(|id| *id != found.credential.id)
        || found.credential.revoked_at.is_some()
        || found.credential.expires_at.is_some_and(|e| e <= now)
    {
        return Ok(None);
    }
    if found.credential.last_used_at.is_none_or(|l| l + LAST_USED_RESOLUTION_MS <= now) {
        t.touch_credential(&found.credential.id, now).await?;
    }
    Ok(Some(found.credential))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_never_debug_printed() {
        let (a, prefix) = new_secret();
        let (b, _) = new_secret();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("rst_") && a.expose().len() == 44);
        assert!(a.expose().starts_with(&prefix) && prefix.len() == 10);
        assert_eq!(format!("{a:?}"), "TokenSecret(…)");
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

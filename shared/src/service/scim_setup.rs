//! The SCIM provisioning page: switch SCIM on or off, make and revoke credentials, see how the
//! identity provider's traffic looks. Every change is recorded in the tenant's activity.

use crate::clock::now_ms;
pub use crate::dto::CredentialKind;
use crate::dto::{CredentialView, NewSecret, OverviewScim, ScimSetup};
use crate::error::{DomainError, DomainResult};
use crate::ids::{CredentialId, TenantId};
use crate::service::activity::{self, Actor};
use crate::service::credentials::{self, TokenSecret};
use crate::store::{CredentialRecord, Store};

/// The tenant's SCIM base URL.
pub fn base_url(public_url: &str, tenant: &TenantId) -> String {
    format!("{}/scim/v2/{tenant}", public_url.trim_end_matches('/'))
}

/// The page's view of a credential; `all` resolves what replaced it.
fn view_among(c: &CredentialRecord, all: &[CredentialRecord]) -> CredentialView {
    let mut v = view(c);
    v.replaced_by = c
        .replaced_by
        .as_ref()
        .map(|r| all.iter().find(|o| o.id == *r).map(|o| o.name.clone()).unwrap_or_else(|| r.to_string()));
    v
}

fn view(c: &CredentialRecord) -> CredentialView {
    CredentialView {
        id: c.id.to_string(),
        kind: c.kind,
        name: c.name.clone(),
        prefix: c.prefix.clone(),
        created_by: c.created_by.clone(),
        created_at_ms: c.created_at,
        expires_at_ms: c.expires_at,
        revoked_at_ms: c.revoked_at,
        last_used_at_ms: c.last_used_at,
        expired: c.expires_at.is_some_and(|e| e <= crate::clock::now_ms()),
        replaced_by: None,
    }
}

/// Whether the SCIM page lists a credential: access tokens issued to OAuth clients are not
/// listed one by one (they live an hour and go with their client).
fn listed(c: &CredentialRecord) -> bool {
    !c.created_by.starts_with("oauth:")
}

/// Everything the page shows (the [`listed`] credentials).
pub async fn setup(store: &Store, tenant: &TenantId, public_url: &str) -> DomainResult<ScimSetup> {
    let t = store.tenant(tenant);
    let summary = t.summary().await?.ok_or(DomainError::NotFound)?;
    let all = t.credentials().await?;
    let mut credentials: Vec<CredentialView> = all.iter().filter(|c| listed(c)).map(|c| view_among(c, &all)).collect();
    credentials.sort_by_key(|c| std::cmp::Reverse(c.created_at_ms));
    let diagnostics = super::diagnostics::diagnostics(store, tenant, &credentials).await?;
    Ok(ScimSetup {
        enabled: summary.scim_enabled,
        scim_base_url: base_url(public_url, tenant),
        credentials,
        health: activity::scim_health(store, tenant).await?,
        diagnostics,
    })
}

/// The setup at a glance, for the Overview: on or off, the URL, how many credentials are not
/// revoked (those `setup` lists), and the traffic's figures. Without the IdP's diagnostics and
/// latest errors, which `setup` reads and the Overview does not show.
pub async fn at_a_glance(
    store: &Store,
    tenant: &TenantId,
    public_url: &str,
    enabled: bool,
) -> DomainResult<OverviewScim> {
    let credentials = store.tenant(tenant).credentials().await?;
    Ok(OverviewScim {
        enabled,
        scim_base_url: base_url(public_url, tenant),
        unrevoked_credentials: credentials.iter().filter(|c| listed(c) && c.revoked_at.is_none()).count(),
        health: activity::scim_traffic(store, tenant).await?,
    })
}

/// Switches SCIM on or off.
pub async fn set_enabled(store: &Store, tenant: &TenantId, actor: &Actor, enabled: bool) -> DomainResult<()> {
    let what = if enabled { "SCIM provisioning switched on" } else { "SCIM provisioning switched off" };
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.set_scim_enabled(enabled, now).await? {
        return Err(DomainError::NotFound);
    }
    crate::service::events::set_cause(&mut tx, &crate::service::events::Cause::of_actor(actor));
    let kind = if enabled { "connection.activated" } else { "connection.deactivated" };
    let data = serde_json::json!({"connection": {"id": "scim", "type": "scim", "enabled": enabled}});
    crate::service::events::emit(&mut tx, kind, data, now);
    tx.record_activity(&[activity::action(actor, "Tenant", None, what, now)]).await?;
    tx.commit().await?;
    store.tenant(tenant).cached_settings_changed().await
}

fn new_secret(public_url: &str, tenant: &TenantId, c: &CredentialRecord, secret: &TokenSecret) -> NewSecret {
    let scim_base_url = base_url(public_url, tenant);
    NewSecret {
        credential: view(c),
        secret: secret.expose().to_string(),
        token_endpoint: (c.kind == CredentialKind::OauthClient).then(|| format!("{scim_base_url}/oauth/token")),
        scim_base_url,
    }
}

/// Makes a credential inside `tx`, with its activity record.
async fn make(
    tx: &mut crate::store::TenantTx<'_>,
    actor: &Actor,
    kind: CredentialKind,
    name: &str,
    expires_in_days: Option<u32>,
) -> DomainResult<(CredentialRecord, TokenSecret)> {
    // An OAuth client's own secret does not expire (the access tokens it is granted do).
    let expires = if kind == CredentialKind::OauthClient { None } else { expires_in_days };
    let (record, secret) = credentials::create_in(tx, kind, name, &actor.name, expires).await?;
    let summary = format!("created {} \"{}\" ({}…)", kind.label(), record.name, record.prefix);
    tx.record_activity(&[activity::action(actor, "Credential", Some(record.id.as_str()), &summary, record.created_at)])
        .await?;
    Ok((record, secret))
}

/// Makes a credential and returns its secret, to be shown once.
pub async fn create(
    store: &Store,
    tenant: &TenantId,
    public_url: &str,
    actor: &Actor,
    kind: CredentialKind,
    name: &str,
    expires_in_days: Option<u32>,
) -> DomainResult<NewSecret> {
    let mut tx = store.tenant(tenant).begin().await?;
    let (record, secret) = make(&mut tx, actor, kind, name, expires_in_days).await?;
    tx.commit().await?;
    Ok(new_secret(public_url, tenant, &record, &secret))
}

/// Revokes a credential (an OAuth client's access tokens with it).
pub async fn revoke(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let id = CredentialId::parse(id).ok_or(DomainError::NotFound)?;
    let existing = store.tenant(tenant).credential(&id).await?.ok_or(DomainError::NotFound)?;
    let mut tx = store.tenant(tenant).begin().await?;
    if !credentials::revoke_in(&mut tx, &id).await? {
        return Err(DomainError::Invalid("This credential is already revoked.".into()));
    }
    let summary = format!("revoked \"{}\" ({}…)", existing.name, existing.prefix);
    tx.record_activity(&[activity::action(actor, "Credential", Some(id.as_str()), &summary, now_ms())]).await?;
    tx.commit().await?;
    store.tenant(tenant).cached_settings_changed().await
}

/// Rotation: a new credential of the same kind, name and lifetime; the old one keeps working
/// until it is revoked, so the IdP can be switched over without a gap.
pub async fn rotate(
    store: &Store,
    tenant: &TenantId,
    public_url: &str,
    actor: &Actor,
    id: &str,
) -> DomainResult<NewSecret> {
    let id = CredentialId::parse(id).ok_or(DomainError::NotFound)?;
    let old = store.tenant(tenant).credential(&id).await?.ok_or(DomainError::NotFound)?;
    if old.revoked_at.is_some() {
        return Err(DomainError::Invalid("A revoked credential cannot be rotated; create a new one.".into()));
    }
    let kind = old.kind;
    let days = old.expires_at.map(|e| {
        let lifetime = (e - old.created_at).max(86_400_000);
        u32::try_from(lifetime / 86_400_000).unwrap_or(3650).clamp(1, 3650)
    });
    let mut tx = store.tenant(tenant).begin().await?;
    let (record, secret) = make(&mut tx, actor, kind, &rotated_name(&old.name, now_ms()), days).await?;
    tx.mark_replaced(&old.id, &record.id).await?;
    tx.commit().await?;
    Ok(new_secret(public_url, tenant, &record, &secret))
}

/// The name of a rotated credential: the old name without an earlier rotation's date, and this
/// one's, so that old and new are told apart in the table and in the IdP.
fn rotated_name(old: &str, now_ms: i64) -> String {
    let base = old.split(" (rotated ").next().unwrap_or(old).trim();
    let date = crate::service::provisioning::rfc3339(now_ms).chars().take(10).collect::<String>();
    let suffix = format!(" (rotated {date})");
    let keep = 100usize.saturating_sub(suffix.chars().count());
    format!("{}{suffix}", base.chars().take(keep).collect::<String>())
}

//! The connections an organization's admins manage, and what the SSO page shows of them.

use crate::service::events::{self, Cause};
use serde::{Deserialize, Serialize};

use super::{oidc, saml, sp_values, SsoSettings};
use crate::clock::now_ms;
use crate::dto::{ConnectionView, OidcConnectionInput, SamlConnectionInput, SsoProtocol, SsoSetup};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::activity::{self, Actor};
use crate::store::{ConnectionRecord, Store};

/// How many connections one organization may have.
pub const MAX_CONNECTIONS: usize = 20;

/// A SAML connection's settings (the `config` column).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SamlConfig {
    /// The IdP's sign-in URL (HTTP-Redirect binding).
    pub sso_url: String,
    /// The IdP's signing certificates, base64 DER.
    pub certificates: Vec<String>,
}

/// An OIDC connection's settings (the `config` column).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OidcConfig {
    /// The client id.
    pub client_id: String,
    /// The client secret, sealed with the server key ([`super::SealKey`]).
    pub client_secret: String,
    /// Scopes, space-separated.
    pub scopes: String,
}

fn checked_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DomainError::Invalid("Give the connection a name (for example \"Okta\").".into()));
    }
    if name.chars().count() > 100 {
        return Err(DomainError::Invalid("The name is longer than 100 characters.".into()));
    }
    Ok(name.to_string())
}

async fn check_room(store: &Store, tenant: &TenantId) -> DomainResult<()> {
    if store.tenant(tenant).sso_connections().await?.len() >= MAX_CONNECTIONS {
        return Err(DomainError::Invalid(format!("An organization can have at most {MAX_CONNECTIONS} connections.")));
    }
    Ok(())
}

/// Creates a SAML connection from the IdP's metadata XML or from typed values.
pub async fn create_saml(
    store: &Store,
    settings: &SsoSettings,
    tenant: &TenantId,
    actor: &Actor,
    input: &SamlConnectionInput,
) -> DomainResult<ConnectionRecord> {
    let name = checked_name(&input.name)?;
    let idp = if !input.metadata_xml.trim().is_empty() {
        saml::IdpSettings::from_metadata(&input.metadata_xml)?
    } else if !input.metadata_url.trim().is_empty() {
        let bytes = settings.fetch.get(&input.metadata_url, "metadata URL").await?;
        let xml = String::from_utf8(bytes)
            .map_err(|_| DomainError::Invalid("The metadata URL did not answer with UTF-8 XML.".into()))?;
        saml::IdpSettings::from_metadata(&xml)?
    } else {
        saml::IdpSettings::typed(&input.entity_id, &input.sso_url, &input.certificates)?
    };
    check_room(store, tenant).await?;
    let config = SamlConfig { sso_url: idp.sso_url, certificates: idp.certificates };
    let record = ConnectionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.clone(),
        protocol: SsoProtocol::Saml,
        name,
        enabled: true,
        allow_idp_initiated: false,
        idp_key: idp.entity_id,
        config: serde_json::to_string(&config).map_err(|e| DomainError::Internal(e.to_string()))?,
        jit: None,
        created_at: now_ms(),
    };
    insert(store, actor, &record).await?;
    Ok(record)
}

/// Creates an OIDC connection; the issuer's discovery document is fetched first, so a typo is
/// caught now, not at the first sign-in.
pub async fn create_oidc(
    store: &Store,
    settings: &SsoSettings,
    tenant: &TenantId,
    actor: &Actor,
    input: &OidcConnectionInput,
) -> DomainResult<ConnectionRecord> {
    let name = checked_name(&input.name)?;
    let issuer = input.issuer.trim().trim_end_matches('/').to_string();
    let client_id = input.client_id.trim().to_string();
    if issuer.is_empty() || client_id.is_empty() || input.client_secret.is_empty() {
        return Err(DomainError::Invalid("The issuer, client id and client secret are all needed.".into()));
    }
    if client_id.len() > 500 || input.client_secret.len() > 2000 {
        return Err(DomainError::Invalid("The client id or secret is too long.".into()));
    }
    let scopes = oidc::checked_scopes(&input.scopes)?;
    oidc::discover(&settings.fetch, &issuer).await?;
    check_room(store, tenant).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let config = OidcConfig { client_id, client_secret: settings.key.seal(&input.client_secret, &id)?, scopes };
    let record = ConnectionRecord {
        id,
        tenant_id: tenant.clone(),
        protocol: SsoProtocol::Oidc,
        name,
        enabled: true,
        allow_idp_initiated: false,
        idp_key: issuer,
        config: serde_json::to_string(&config).map_err(|e| DomainError::Internal(e.to_string()))?,
        // An OIDC IdP sends the standard claims: the preset starts there.
        jit: serde_json::to_string(&crate::dto::JitSettings {
            preset: crate::dto::ClaimPreset::Oidc,
            claims: crate::dto::ClaimPreset::Oidc.mapping(),
            ..Default::default()
        })
        .ok(),
        created_at: now_ms(),
    };
    insert(store, actor, &record).await?;
    Ok(record)
}

async fn insert(store: &Store, actor: &Actor, record: &ConnectionRecord) -> DomainResult<()> {
    let now = now_ms();
    let mut tx = store.tenant(&record.tenant_id).begin().await?;
    tx.insert_sso_connection(record, now).await?;
    events::set_cause(&mut tx, &Cause::of_actor(actor));
    events::emit(&mut tx, "connection.activated", connection_data(record), now);
    let summary = format!("created {} connection \"{}\" ({})", record.protocol.label(), record.name, record.idp_key);
    tx.record_activity(&[activity::action(actor, "SsoConnection", Some(&record.id), &summary, now)]).await?;
    tx.commit().await
}

/// Switches a connection on or off, and whether it accepts IdP-initiated SAML responses.
pub async fn set_flags(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    id: &str,
    enabled: bool,
    allow_idp_initiated: bool,
) -> DomainResult<()> {
    let before = connection(store, tenant, id).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx
        .set_sso_connection_flags(id, enabled, allow_idp_initiated && before.protocol == SsoProtocol::Saml, now)
        .await?
    {
        return Err(DomainError::NotFound);
    }
    let mut changes = Vec::new();
    if before.enabled != enabled {
        changes.push(if enabled { "enabled" } else { "disabled" });
        events::set_cause(&mut tx, &Cause::of_actor(actor));
        let kind = if enabled { "connection.activated" } else { "connection.deactivated" };
        events::emit(&mut tx, kind, connection_data(&ConnectionRecord { enabled, ..before.clone() }), now);
    }
    if before.allow_idp_initiated != allow_idp_initiated && before.protocol == SsoProtocol::Saml {
        changes.push(if allow_idp_initiated {
            "IdP-initiated sign-in allowed"
        } else {
            "IdP-initiated sign-in refused"
        });
    }
    if !changes.is_empty() {
        let summary = format!("connection \"{}\": {}", before.name, changes.join(", "));
        tx.record_activity(&[activity::action(actor, "SsoConnection", Some(id), &summary, now)]).await?;
    }
    tx.commit().await
}

/// Deletes a connection; people who signed in through it keep their users.
pub async fn delete(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let before = connection(store, tenant, id).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.delete_sso_connection(id).await? {
        return Err(DomainError::NotFound);
    }
    if before.enabled {
        events::set_cause(&mut tx, &Cause::of_actor(actor));
        let data = connection_data(&ConnectionRecord { enabled: false, ..before.clone() });
        events::emit(&mut tx, "connection.deactivated", data, now);
    }
    let summary = format!("deleted connection \"{}\"", before.name);
    tx.record_activity(&[activity::action(actor, "SsoConnection", Some(id), &summary, now)]).await?;
    tx.commit().await
}

/// A connection as events show it.
fn connection_data(c: &ConnectionRecord) -> serde_json::Value {
    serde_json::json!({"connection": {
        "id": c.id,
        "type": "sso",
        "protocol": c.protocol.as_str(),
        "name": c.name,
        "idp": c.idp_key,
        "enabled": c.enabled,
    }})
}

/// A connection of this tenant (another tenant's id is `NotFound`).
pub async fn connection(store: &Store, tenant: &TenantId, id: &str) -> DomainResult<ConnectionRecord> {
    match store.sso_connection(id).await? {
        Some(c) if &c.tenant_id == tenant => Ok(c),
        _ => Err(DomainError::NotFound),
    }
}

/// A connection as the SSO page shows it.
pub fn view(public_url: &str, c: &ConnectionRecord) -> ConnectionView {
    let mut v = ConnectionView {
        id: c.id.clone(),
        name: c.name.clone(),
        protocol: c.protocol,
        enabled: c.enabled,
        allow_idp_initiated: c.allow_idp_initiated,
        idp_id: c.idp_key.clone(),
        sso_url: None,
        certificates: Vec::new(),
        client_id: None,
        scopes: None,
        sp: sp_values(public_url, c.protocol, &c.id),
        jit: super::jit::settings(c),
        created_at_ms: c.created_at,
    };
    match c.protocol {
        SsoProtocol::Saml => {
            if let Ok(cfg) = serde_json::from_str::<SamlConfig>(&c.config) {
                v.sso_url = Some(cfg.sso_url);
                v.certificates = cfg.certificates.iter().filter_map(|b64| saml::certificate_view(b64).ok()).collect();
            }
        }
        SsoProtocol::Oidc => {
            if let Ok(cfg) = serde_json::from_str::<OidcConfig>(&c.config) {
                v.client_id = Some(cfg.client_id);
                v.scopes = Some(cfg.scopes);
            }
        }
    }
    v
}

/// The SSO page: connections and the latest sign-in attempts.
pub async fn setup(store: &Store, public_url: &str, tenant: &TenantId) -> DomainResult<SsoSetup> {
    let connections = store.tenant(tenant).sso_connections().await?;
    let sign_ins = store.tenant(tenant).sign_ins(50, None).await?;
    Ok(SsoSetup {
        connections: connections.iter().map(|c| view(public_url, c)).collect(),
        sign_ins,
        tenant_sign_in_url: format!("{public_url}/sso/t/{tenant}"),
        domains: super::domains::list(store, tenant).await?,
    })
}

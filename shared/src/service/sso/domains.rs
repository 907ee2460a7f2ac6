//! An organization's email domains: people who type an address at a verified domain on the
//! sign-in page are sent to the organization's SSO. A domain is verified by a DNS TXT record at
//! `_roster-verification.{domain}` whose value is `roster-verification={token}`, read through the
//! resolver the operator configures (`--dns-resolver`; the system's by default), and by one
//! organization only.

use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::random_token;
use crate::clock::now_ms;
use crate::dto::DomainView;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::activity::{self, Actor};
use crate::store::Store;

/// The TXT record's name prefix.
pub const TXT_PREFIX: &str = "_roster-verification";
/// How many domains an organization may add.
pub const MAX_DOMAINS: usize = 50;

/// A domain as typed, checked and lower-cased (`Acme.COM.` → `acme.com`).
pub fn normalized(domain: &str) -> DomainResult<String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let d = d.strip_prefix('@').unwrap_or(&d).to_string();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if d.len() > 253 || !d.contains('.') || !d.split('.').all(valid_label) {
        return Err(DomainError::Invalid(format!("{:?} is not a domain name (like acme.com).", domain.trim())));
    }
    Ok(d)
}

/// The TXT record an organization creates to verify `domain`: (name, value).
pub fn txt_record(domain: &str, token: &str) -> (String, String) {
    (format!("{TXT_PREFIX}.{domain}"), format!("roster-verification={token}"))
}

/// The organization's domains.
pub async fn list(store: &Store, tenant: &TenantId) -> DomainResult<Vec<DomainView>> {
    Ok(store
        .tenant(tenant)
        .domains()
        .await?
        .into_iter()
        .map(|(domain, token, verified_at)| {
            let (txt_name, txt_value) = txt_record(&domain, &token);
            DomainView { domain, verified_at_ms: verified_at, txt_name, txt_value }
        })
        .collect())
}

/// Adds a domain to verify.
pub async fn add(store: &Store, tenant: &TenantId, actor: &Actor, domain: &str) -> DomainResult<String> {
    let domain = normalized(domain)?;
    if store.tenant(tenant).domains().await?.len() >= MAX_DOMAINS {
        return Err(DomainError::Invalid(format!("An organization can have at most {MAX_DOMAINS} domains.")));
    }
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.insert_domain(&domain, &random_token(), now).await? {
        return Err(DomainError::Invalid(format!("{domain} is already in the list.")));
    }
    let summary = format!("added the domain {domain} (to verify)");
    tx.record_activity(&[activity::action(actor, "Domain", Some(&domain), &summary, now)]).await?;
    tx.commit().await?;
    Ok(domain)
}

/// Removes a domain.
pub async fn remove(store: &Store, tenant: &TenantId, actor: &Actor, domain: &str) -> DomainResult<()> {
    let domain = normalized(domain)?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.delete_domain(&domain).await? {
        return Err(DomainError::NotFound);
    }
    tx.record_activity(&[activity::action(
        actor,
        "Domain",
        Some(&domain),
        &format!("removed the domain {domain}"),
        now,
    )])
    .await?;
    tx.commit().await
}

/// The TXT values published at `name`, through `resolver` (an address) or the system's.
pub async fn txt_values(resolver: Option<SocketAddr>, name: &str) -> DomainResult<Vec<String>> {
    let mut builder = match resolver {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| DomainError::Internal(format!("reading the system's DNS configuration: {e}")))?,
    };
    // A verification must see the record the admin just created.
    builder.options_mut().cache_size = 0;
    builder.options_mut().attempts = 2;
    builder.options_mut().timeout = std::time::Duration::from_secs(3);
    let resolver = builder.build();
    match resolver.txt_lookup(format!("{name}.")).await {
        Ok(lookup) => Ok(lookup
            .iter()
            .map(|txt| txt.txt_data().iter().map(|part| String::from_utf8_lossy(part).into_owned()).collect::<String>())
            .collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(DomainError::Invalid(format!("The DNS lookup of {name} failed: {e}"))),
    }
}

/// Verifies a domain by its TXT record (`force`: an operator's word instead).
pub async fn verify(
    store: &Store,
    resolver: Option<SocketAddr>,
    tenant: &TenantId,
    actor: &Actor,
    domain: &str,
    force: bool,
) -> DomainResult<()> {
    let domain = normalized(domain)?;
    let rows = store.tenant(tenant).domains().await?;
    let Some((_, token, verified_at)) = rows.into_iter().find(|(d, _, _)| *d == domain) else {
        return Err(DomainError::NotFound);
    };
    if verified_at.is_some() {
        return Ok(());
    }
    let (name, value) = txt_record(&domain, &token);
    if !force {
        let found = txt_values(resolver, &name).await?;
        if !found.iter().any(|v| v.trim() == value) {
            return Err(DomainError::Invalid(if found.is_empty() {
                format!("No TXT record at {name} yet. Create it with the value {value} (DNS changes can take a few minutes to appear).")
            } else {
                format!("The TXT records at {name} do not include {value} (found: {}).", found.join(", "))
            }));
        }
    }
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    tx.verify_domain(&domain, now).await?;
    let how = if force { "by an operator, without DNS" } else { "by its DNS TXT record" };
    tx.record_activity(&[activity::action(
        actor,
        "Domain",
        Some(&domain),
        &format!("verified the domain {domain} {how}"),
        now,
    )])
    .await?;
    tx.commit().await
}

/// The organization whose people sign in with `email` (its domain verified), if any.
pub async fn tenant_for_email(store: &Store, email: &str) -> DomainResult<Option<TenantId>> {
    let Some((_, domain)) = email.trim().rsplit_once('@') else {
        return Ok(None);
    };
    let Ok(domain) = normalized(domain) else {
        return Ok(None);
    };
    store.tenant_of_domain(&domain).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_and_checked() {
        assert_eq!(normalized(" Acme.COM. ").unwrap(), "acme.com");
        assert_eq!(normalized("@eu.acme.com").unwrap(), "eu.acme.com");
        for bad in ["acme", "-acme.com", "acme..com", "ac me.com", "acme.com/x", "<script>.com", ""] {
            assert!(normalized(bad).is_err(), "{bad}");
        }
        assert_eq!(txt_record("acme.com", "t").0, "_roster-verification.acme.com");
    }
}

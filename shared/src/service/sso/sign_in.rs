//! Where every SSO sign-in ends, whatever the protocol: the one place that finds the user for an
//! IdP identity, refuses with a reason, and writes the sign-in log (just-in-time creation slots
//! in here).
//!
//! The user for an identity (connection, subject): the user it was linked to at an earlier
//! sign-in; else the organization's IdP-provisioned user whose userName is the subject or the
//! email, or whose primary email is the email (exactly one). A manual user is never linked
//! automatically. An inactive user is refused. A person signed in through SSO has the effective
//! role of their user groups (the highest), read at every request, so a change of groups or a
//! deactivation takes effect at once.

use std::collections::BTreeMap;

use crate::clock::now_ms;
use crate::dto::{ConsoleRole, GroupRole, MyAccess, UserSource, Viewer};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{fold_ascii, ConnectionRecord, NewSignIn, Store, UserRow};

/// An identity the IdP vouched for (signature and checks passed).
#[derive(Clone, Debug)]
pub struct Identity {
    /// SAML NameID or OIDC `sub`.
    pub subject: String,
    /// The email the IdP sent, if any.
    pub email: Option<String>,
    /// Every attribute or claim, by name.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The assertion or claims for the sign-in log (secrets removed).
    pub detail: String,
}

/// Why a sign-in was refused.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// A short code (`bad_signature`, `expired`, `replayed`, `unknown_user`, …).
    pub reason: &'static str,
    /// What happened, for the admin reading the log.
    pub message: String,
    /// The subject, if one was read.
    pub subject: Option<String>,
    /// The email, if one was read.
    pub email: Option<String>,
    /// The response or claims, secrets removed.
    pub detail: Option<String>,
}

impl Refusal {
    /// A refusal without anything read.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { reason, message: message.into(), subject: None, email: None, detail: None }
    }
}

/// How a sign-in ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The person is the user `user_id`; start their session.
    SignedIn {
        /// The user.
        user_id: String,
        /// The log record.
        sign_in_id: String,
    },
    /// A test sign-in that succeeded (nobody is signed in).
    Tested {
        /// The log record.
        sign_in_id: String,
    },
    /// Refused.
    Refused {
        /// The log record.
        sign_in_id: String,
        /// The message for the person.
        message: String,
        /// Whether it was a test sign-in.
        test: bool,
    },
}

fn is_active(user: &UserRow) -> bool {
    serde_json::from_str::<serde_json::Value>(&user.data)
        .ok()
        .and_then(|v| v.get("active").and_then(serde_json::Value::as_bool))
        .unwrap_or(true)
}

/// The user an identity signs in as, or the refusal.
async fn find_user(store: &Store, c: &ConnectionRecord, who: &Identity) -> DomainResult<Result<UserRow, Refusal>> {
    let t = store.tenant(&c.tenant_id);
    let mut found = None;
    if let Some(id) = t.sso_identity(&c.id, &who.subject).await? {
        found = t.user(&id).await?;
    }
    if found.is_none() {
        found = t.user_by_user_name(&fold_ascii(&who.subject)).await?;
    }
    if found.is_none() {
        if let Some(email) = &who.email {
            found = t.user_by_user_name(&fold_ascii(email)).await?;
            if found.is_none() {
                let by_email = t.users_by_email(&fold_ascii(email)).await?;
                if by_email.len() > 1 {
                    return Ok(Err(Refusal::new(
                        "ambiguous_user",
                        format!("Several users of this organization have the email {email}; none was chosen."),
                    )));
                }
                found = by_email.into_iter().next();
            }
        }
    }
    let Some(user) = found else {
        return Ok(Err(Refusal::new(
            "unknown_user",
            format!(
                "No user of this organization has the userName {:?}{}. Provision them over SCIM first.",
                who.subject,
                who.email.as_ref().map(|e| format!(" or the email {e:?}")).unwrap_or_default()
            ),
        )));
    };
    if user.source == UserSource::Manual {
        return Ok(Err(Refusal::new(
            "manual_user",
            format!(
                "{} is a user an admin created by hand; a sign-in is never linked to one automatically.",
                user.user_name
            ),
        )));
    }
    if !is_active(&user) {
        return Ok(Err(Refusal::new("user_inactive", format!("{} is deactivated.", user.user_name))));
    }
    Ok(Ok(user))
}

/// Ends a sign-in through connection `c`: finds the user, links the identity, writes the log.
/// `test_by` is the admin of a test sign-in (nothing but the log is written then).
pub async fn finish(
    store: &Store,
    c: &ConnectionRecord,
    test_by: Option<String>,
    client_ip: Option<String>,
    result: Result<crate::service::sso::sign_in::Identity, Refusal>,
) -> DomainResult<Outcome> {
    let test = test_by.is_some();
    let mut log = NewSignIn {
        connection_id: Some(c.id.clone()),
        connection_name: c.name.clone(),
        test_by: test_by.clone(),
        client_ip,
        ..NewSignIn::default()
    };
    let found = match result {
        Err(r) => Err(r),
        Ok(who) => {
            log.subject = Some(who.subject.clone());
            log.email.clone_from(&who.email);
            log.detail = Some(who.detail.clone());
            if !c.enabled && !test {
                Err(Refusal::new("connection_disabled", format!("The connection \"{}\" is switched off.", c.name)))
            } else {
                find_user(store, c, &who).await?.map(|u| (u, who))
            }
        }
    };
    let now = now_ms();
    let mut tx = store.tenant(&c.tenant_id).begin().await?;
    let outcome = match found {
        Err(r) => {
            if log.subject.is_none() {
                log.subject = r.subject;
            }
            if log.email.is_none() {
                log.email = r.email;
            }
            if log.detail.is_none() {
                log.detail = r.detail;
            }
            log.reason = Some(r.reason.to_string());
            log.message = if test { format!("Test sign-in refused: {}", r.message) } else { r.message.clone() };
            let sign_in_id = tx.insert_sign_in(&log, now).await?;
            Outcome::Refused { sign_in_id, message: r.message, test }
        }
        Ok((user, who)) => {
            log.signed_in = true;
            log.user_id = Some(user.id.clone());
            let role = effective_role(store, &c.tenant_id, &user.id).await?;
            let role_text = role.map_or("no user group yet".to_string(), |r| format!("role {}", r.label()));
            if test {
                log.message =
                    format!("Test sign-in succeeded: this would sign in as {} ({role_text}).", user.user_name);
                Outcome::Tested { sign_in_id: tx.insert_sign_in(&log, now).await? }
            } else {
                tx.link_sso_identity(&c.id, &who.subject, &user.id, now).await?;
                log.message = format!("Signed in as {} ({role_text}).", user.user_name);
                Outcome::SignedIn { user_id: user.id.clone(), sign_in_id: tx.insert_sign_in(&log, now).await? }
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// A user's user groups with their roles.
async fn groups_of(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<Vec<(String, GroupRole)>> {
    let memberships = store.tenant(tenant).memberships_of_users(&[user_id.to_string()]).await?;
    let mut groups: Vec<(String, GroupRole)> = Vec::new();
    for m in memberships {
        if let Some(role) = GroupRole::parse(&m.role) {
            if !groups.iter().any(|(name, _)| name == &m.group_name) {
                groups.push((m.group_name, role));
            }
        }
    }
    groups.sort();
    Ok(groups)
}

/// A user's effective role: the highest of their user groups' roles.
pub async fn effective_role(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<Option<GroupRole>> {
    Ok(groups_of(store, tenant, user_id).await?.into_iter().map(|(_, r)| r).max())
}

fn display_of(user: &UserRow) -> (String, Option<String>) {
    let data: serde_json::Value = serde_json::from_str(&user.data).unwrap_or_default();
    let name = data
        .get("displayName")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| {
            let n = data.get("name")?;
            let given = n.get("givenName").and_then(|v| v.as_str()).unwrap_or_default();
            let family = n.get("familyName").and_then(|v| v.as_str()).unwrap_or_default();
            let both = format!("{given} {family}").trim().to_string();
            (!both.is_empty()).then_some(both)
        })
        .unwrap_or_else(|| user.user_name.clone());
    let emails = data.get("emails").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let email = emails
        .iter()
        .find(|e| e.get("primary").and_then(|p| p.as_bool()) == Some(true))
        .or_else(|| emails.first())
        .and_then(|e| e.get("value").and_then(|v| v.as_str()))
        .map(str::to_string);
    (name, email)
}

/// The person signed in through SSO as `user_id`, as the dashboard sees them; `None` when the
/// user is gone or deactivated (their session ends).
pub async fn viewer(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<Option<Viewer>> {
    let Some(user) = store.tenant(tenant).user(user_id).await? else {
        return Ok(None);
    };
    if !is_active(&user) || user.source == UserSource::Manual {
        return Ok(None);
    }
    let Some(summary) = store.tenant(tenant).summary().await? else {
        return Ok(None);
    };
    let role = match effective_role(store, tenant, user_id).await? {
        Some(GroupRole::Admin) => ConsoleRole::OrgAdmin,
        Some(GroupRole::Viewer) => ConsoleRole::OrgViewer,
        Some(GroupRole::Member) => ConsoleRole::Member,
        None => ConsoleRole::NoAccess,
    };
    let (name, email) = display_of(&user);
    Ok(Some(Viewer {
        account_id: user.id.clone(),
        name,
        email: email.unwrap_or_else(|| user.user_name.clone()),
        role,
        tenant: Some(summary),
        sso: true,
    }))
}

/// What a person signed in through SSO sees of their own access.
pub async fn my_access(store: &Store, tenant: &TenantId, user_id: &str, connection_id: &str) -> DomainResult<MyAccess> {
    let user = store.tenant(tenant).user(user_id).await?.ok_or(DomainError::NotFound)?;
    let organization = store.tenant(tenant).summary().await?.ok_or(DomainError::NotFound)?.name;
    let connection = store
        .sso_connection(connection_id)
        .await?
        .filter(|c| &c.tenant_id == tenant)
        .map_or_else(|| "a connection since deleted".to_string(), |c| c.name);
    let groups = groups_of(store, tenant, user_id).await?;
    let (name, email) = display_of(&user);
    Ok(MyAccess {
        name,
        user_name: user.user_name.clone(),
        email,
        organization,
        connection,
        role: groups.iter().map(|(_, r)| *r).max(),
        groups,
    })
}

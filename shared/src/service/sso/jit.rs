//! Just-in-time provisioning: what a connection's claims become.
//!
//! A connection's settings ([`JitSettings`], the `jit` column) say whether a sign-in with no
//! user creates one, whether later sign-ins update it, how an unlinked sign-in finds an
//! existing user (the link key), and which claim names carry the person's id, names, email,
//! groups and further attributes (presets for the common IdPs, editable). [`read`] turns an
//! identity into [`Claimed`] values; [`resource`] into the SCIM User that the one user write
//! path ([`crate::service::users`]) creates or updates, so the mapping rules place a
//! just-in-time user exactly as they place a SCIM user. Where a sign-in ends, and the order of
//! the linking rules, is [`super::sign_in`].

use serde_json::{json, Map, Value};

use super::sign_in::{Identity, Refusal};
use crate::clock::now_ms;
use crate::dto::{ClaimAttribute, ClaimMapping, ClaimPreset, JitSettings, JIT_ATTRIBUTES};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::scim::schema::{ResourceSchema, ENTERPRISE_USER_URN};
use crate::scim::validate::{validate_resource, Mode};
use crate::service::activity::{self, Actor};
use crate::store::{fold_ascii, ConnectionRecord, Store};

/// At most this many names per claim field, further attributes, and group names kept.
const MAX_NAMES: usize = 10;
const MAX_ATTRIBUTES: usize = 30;
const MAX_GROUPS: usize = 200;
/// The longest claim value written to a user attribute.
const MAX_VALUE: usize = 512;

/// A connection's settings (the defaults, off, when none were saved or they cannot be read).
pub fn settings(c: &ConnectionRecord) -> JitSettings {
    c.jit.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
}

/// What a sign-in's claims say, by the connection's mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    /// The IdP's stable id of the person.
    pub unique_user_id: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Email (the SAML/OIDC email when the mapping names none that was sent).
    pub email: Option<String>,
    /// Group names (as sent).
    pub groups: Vec<String>,
    /// Further attributes: (attribute, value).
    pub attributes: Vec<(String, String)>,
}

fn first_value(who: &Identity, names: &[String]) -> Option<String> {
    values(who, names).into_iter().find(|v| !v.trim().is_empty()).map(|v| v.trim().chars().take(MAX_VALUE).collect())
}

/// The values of the first of `names` the IdP sent (exact name first, then ignoring ASCII case).
fn values(who: &Identity, names: &[String]) -> Vec<String> {
    for name in names {
        if let Some(v) = who.attributes.get(name) {
            return v.clone();
        }
    }
    for name in names {
        if let Some((_, v)) = who.attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return v.clone();
        }
    }
    Vec::new()
}

/// Reads the claims a mapping names.
pub fn read(m: &ClaimMapping, who: &Identity) -> Claimed {
    let mut groups: Vec<String> = values(who, &m.groups)
        .into_iter()
        .map(|g| g.trim().chars().take(MAX_VALUE).collect::<String>())
        .filter(|g| !g.is_empty())
        .collect();
    groups.truncate(MAX_GROUPS);
    Claimed {
        unique_user_id: first_value(who, &m.unique_user_id),
        first_name: first_value(who, &m.first_name),
        last_name: first_value(who, &m.last_name),
        email: first_value(who, &m.email).or_else(|| who.email.clone()),
        groups,
        attributes: m
            .attributes
            .iter()
            .filter_map(|a| first_value(who, std::slice::from_ref(&a.claim)).map(|v| (a.attribute.clone(), v)))
            .collect(),
    }
}

/// The refusal for a sign-in whose required claims (unique user id, email) are missing.
pub fn missing(m: &ClaimMapping, c: &Claimed, who: &Identity) -> Option<Refusal> {
    let mut absent = Vec::new();
    if c.unique_user_id.is_none() {
        absent.push(format!("the unique user id ({})", m.unique_user_id.join(" or ")));
    }
    if c.email.as_deref().is_none_or(|e| !e.contains('@')) {
        absent.push(format!("an email ({})", m.email.join(" or ")));
    }
    if absent.is_empty() {
        return None;
    }
    let sent: Vec<&str> = who.attributes.keys().map(String::as_str).collect();
    Some(Refusal::new(
        "missing_claim",
        format!(
            "The identity provider did not send {}. It sent: {}. Check the connection's claim mapping.",
            absent.join(" and "),
            if sent.is_empty() { "no attributes".to_string() } else { sent.join(", ") }
        ),
    ))
}

/// The email's domain, lower case.
pub fn domain_of(email: &str) -> Option<String> {
    email.rsplit_once('@').map(|(_, d)| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty())
}

/// Whether the email is in one of the organization's verified domains.
pub async fn in_verified_domain(store: &Store, tenant: &TenantId, email: Option<&str>) -> DomainResult<bool> {
    let Some(domain) = email.and_then(domain_of) else { return Ok(false) };
    Ok(store.tenant(tenant).domains().await?.iter().any(|(d, _, verified)| d == &domain && verified.is_some()))
}

/// Sets one further attribute in a SCIM User resource.
fn set_attribute(res: &mut Map<String, Value>, attribute: &str, value: &str) {
    let v = Value::String(value.to_string());
    let work = |res: &mut Map<String, Value>, list: &str| -> Option<Map<String, Value>> {
        let arr = res.entry(list).or_insert_with(|| json!([{ "type": "work", "primary": true }]));
        arr.as_array_mut()?.first_mut()?.as_object_mut().cloned()
    };
    let put_work = |res: &mut Map<String, Value>, list: &str, key: &str| {
        if let Some(mut entry) = work(res, list) {
            entry.insert(key.to_string(), v.clone());
            res.insert(list.to_string(), Value::Array(vec![Value::Object(entry)]));
        }
    };
    match attribute {
        "phoneNumber" => put_work(res, "phoneNumbers", "value"),
        "office" => put_work(res, "addresses", "formatted"),
        "streetAddress" | "locality" | "region" | "postalCode" | "country" => put_work(res, "addresses", attribute),
        "department" | "employeeNumber" | "costCenter" | "organization" | "division" | "manager" => {
            let ext = res.entry(ENTERPRISE_USER_URN).or_insert_with(|| json!({}));
            if let Some(ext) = ext.as_object_mut() {
                if attribute == "manager" {
                    ext.insert("manager".into(), json!({ "value": value }));
                } else {
                    ext.insert(attribute.to_string(), v);
                }
            }
            if let Some(schemas) = res.get_mut("schemas").and_then(Value::as_array_mut) {
                if !schemas.iter().any(|s| s == ENTERPRISE_USER_URN) {
                    schemas.push(Value::String(ENTERPRISE_USER_URN.into()));
                }
            }
        }
        other => {
            res.insert(other.to_string(), v);
        }
    }
}

/// The SCIM User a sign-in's claims describe (userName and primary email: the email;
/// externalId: the unique user id), checked like a SCIM create. `Err` says what is wrong.
pub fn resource(c: &Claimed, active: bool) -> Result<Value, String> {
    let email = c.email.clone().unwrap_or_default();
    let mut res = Map::new();
    res.insert("schemas".into(), json!([crate::scim::schema::USER_URN]));
    res.insert("userName".into(), Value::String(email.clone()));
    if let Some(id) = &c.unique_user_id {
        res.insert("externalId".into(), Value::String(id.clone()));
    }
    let mut name = Map::new();
    if let Some(f) = &c.first_name {
        name.insert("givenName".into(), Value::String(f.clone()));
    }
    if let Some(l) = &c.last_name {
        name.insert("familyName".into(), Value::String(l.clone()));
    }
    if !name.is_empty() {
        let full = [c.first_name.as_deref(), c.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>();
        res.insert("displayName".into(), Value::String(full.join(" ")));
        res.insert("name".into(), Value::Object(name));
    }
    res.insert("emails".into(), json!([{ "value": email, "type": "work", "primary": true }]));
    res.insert("active".into(), Value::Bool(active));
    for (attribute, value) in &c.attributes {
        set_attribute(&mut res, attribute, value);
    }
    validate_resource(&Value::Object(res), ResourceSchema::user(), Mode::Create).map_err(|e| e.detail)
}

/// Whether a user's stored resource already says what the claims say (no write needed).
pub fn unchanged(stored: &str, wanted: &Value) -> bool {
    let Ok(mut have) = serde_json::from_str::<Value>(stored) else { return false };
    if let Value::Object(m) = &mut have {
        m.remove("id");
        m.remove("meta");
    }
    &have == wanted
}

fn names(text: &str, field: &str, required: bool) -> DomainResult<Vec<String>> {
    let list: Vec<String> = text.split([',', '\n']).map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
    if required && list.is_empty() {
        return Err(DomainError::Invalid(format!("Name at least one claim for {field}.")));
    }
    if list.len() > MAX_NAMES || list.iter().any(|n| n.chars().count() > 200) {
        return Err(DomainError::Invalid(format!(
            "{field}: at most {MAX_NAMES} claim names of at most 200 characters."
        )));
    }
    Ok(list)
}

/// The claim mapping an admin typed: one field per attribute (names separated by commas) and
/// further attributes as `claim = attribute` lines.
#[derive(Clone, Debug, Default)]
pub struct MappingForm {
    /// Names for the unique user id.
    pub unique_user_id: String,
    /// Names for the given name.
    pub first_name: String,
    /// Names for the family name.
    pub last_name: String,
    /// Names for the email.
    pub email: String,
    /// Names for the groups claim.
    pub groups: String,
    /// `claim = attribute` lines.
    pub attributes: String,
}

impl MappingForm {
    /// The mapping, checked.
    pub fn parse(&self) -> DomainResult<ClaimMapping> {
        Ok(ClaimMapping {
            unique_user_id: names(&self.unique_user_id, "the unique user id", true)?,
            first_name: names(&self.first_name, "the first name", false)?,
            last_name: names(&self.last_name, "the last name", false)?,
            email: names(&self.email, "the email", true)?,
            groups: names(&self.groups, "the groups", false)?,
            attributes: self.attributes()?,
        })
    }

    /// The further attributes, checked.
    pub fn attributes(&self) -> DomainResult<Vec<ClaimAttribute>> {
        let mut attributes = Vec::new();
        for (i, line) in self.attributes.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((claim, attribute)) = line.rsplit_once('=') else {
                return Err(DomainError::Invalid(format!(
                    "Further attributes, line {}: write `claim = attribute`, for example `department = department`.",
                    i + 1
                )));
            };
            let (claim, attribute) = (claim.trim(), attribute.trim());
            let Some((known, _)) = JIT_ATTRIBUTES.iter().find(|(a, _)| a.eq_ignore_ascii_case(attribute)) else {
                return Err(DomainError::Invalid(format!(
                    "Further attributes, line {}: {attribute:?} is not an attribute a claim can fill ({}).",
                    i + 1,
                    JIT_ATTRIBUTES.iter().map(|(a, _)| *a).collect::<Vec<_>>().join(", ")
                )));
            };
            if claim.is_empty() || claim.chars().count() > 200 {
                return Err(DomainError::Invalid(format!("Further attributes, line {}: name the claim.", i + 1)));
            }
            attributes.push(ClaimAttribute { claim: claim.to_string(), attribute: known.to_string() });
        }
        if attributes.len() > MAX_ATTRIBUTES {
            return Err(DomainError::Invalid(format!("At most {MAX_ATTRIBUTES} further attributes.")));
        }
        Ok(attributes)
    }

    /// The form's fields for a mapping.
    pub fn of(m: &ClaimMapping) -> MappingForm {
        MappingForm {
            unique_user_id: m.unique_user_id.join(", "),
            first_name: m.first_name.join(", "),
            last_name: m.last_name.join(", "),
            email: m.email.join(", "),
            groups: m.groups.join(", "),
            attributes: m
                .attributes
                .iter()
                .map(|a| format!("{} = {}", a.claim, a.attribute))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Saves a connection's just-in-time settings. A preset other than *Custom* that differs from
/// the one saved before (or comes with no claim names typed) replaces the claim names with its
/// own (the further attributes stay); otherwise the typed names are kept, and the preset becomes
/// *Custom* if they differ from it.
pub async fn save(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    id: &str,
    mut wanted: JitSettings,
    typed: &MappingForm,
) -> DomainResult<JitSettings> {
    let c = super::connections::connection(store, tenant, id).await?;
    let before = settings(&c);
    let no_names = [&typed.unique_user_id, &typed.first_name, &typed.last_name, &typed.email, &typed.groups]
        .iter()
        .all(|t| t.trim().is_empty());
    wanted.claims = if wanted.preset != ClaimPreset::Custom && (wanted.preset != before.preset || no_names) {
        ClaimMapping { attributes: typed.attributes()?, ..wanted.preset.mapping() }
    } else {
        let typed = typed.parse()?;
        let preset_names = ClaimMapping { attributes: typed.attributes.clone(), ..wanted.preset.mapping() };
        if wanted.preset != ClaimPreset::Custom && typed != preset_names {
            wanted.preset = ClaimPreset::Custom;
        }
        typed
    };
    let json = serde_json::to_string(&wanted).map_err(|e| DomainError::Internal(format!("JIT settings: {e}")))?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.set_sso_connection_jit(id, &json, now).await? {
        return Err(DomainError::NotFound);
    }
    let summary = format!(
        "connection \"{}\": just-in-time provisioning {}, {}, link key {}, claims {}",
        c.name,
        if wanted.enabled { "on" } else { "off" },
        match wanted.update {
            crate::dto::JitUpdate::EverySignIn => "attributes updated at every sign-in",
            crate::dto::JitUpdate::CreateOnly => "attributes written at creation only",
        },
        wanted.link_key.as_str(),
        wanted.preset.as_str()
    );
    tx.record_activity(&[activity::action(actor, "SsoConnection", Some(id), &summary, now)]).await?;
    tx.commit().await?;
    Ok(wanted)
}

/// The normalized group names to store for a just-in-time user.
pub fn group_keys(c: &Claimed) -> Vec<String> {
    let mut keys: Vec<String> = c.groups.iter().map(|g| fold_ascii(g)).collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn who(attrs: &[(&str, &[&str])]) -> Identity {
        Identity {
            subject: "s-1".into(),
            email: None,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|x| x.to_string()).collect()))
                .collect::<BTreeMap<_, _>>(),
            detail: String::new(),
        }
    }

    #[test]
    fn presets_read_their_vendors_claims() {
        let entra = who(&[
            ("http://schemas.microsoft.com/identity/claims/objectidentifier", &["oid-1"]),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", &["Ada"]),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", &["Lovelace"]),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", &["ada@acme.test"]),
        ]);
        let c = read(&ClaimPreset::Entra.mapping(), &entra);
        assert_eq!(c.unique_user_id.as_deref(), Some("oid-1"));
        assert_eq!((c.first_name.as_deref(), c.last_name.as_deref()), (Some("Ada"), Some("Lovelace")));
        assert_eq!(c.email.as_deref(), Some("ada@acme.test"));
        // Flosum's spelling of the generic id, and a name sent in another case.
        let flosum = who(&[("userUniqueId", &["u-9"]), ("EMAIL", &["x@acme.test"])]);
        let c = read(&ClaimPreset::Generic.mapping(), &flosum);
        assert_eq!(c.unique_user_id.as_deref(), Some("u-9"));
        assert_eq!(c.email.as_deref(), Some("x@acme.test"));
        let okta = who(&[("user.id", &["00u1"]), ("user.email", &["o@acme.test"]), ("groups", &["Eng", "All"])]);
        let c = read(&ClaimPreset::Okta.mapping(), &okta);
        assert_eq!((c.unique_user_id.as_deref(), c.groups.len()), (Some("00u1"), 2));
    }

    #[test]
    fn a_missing_required_claim_is_named() {
        let m = ClaimPreset::Okta.mapping();
        let w = who(&[("user.email", &["o@acme.test"])]);
        let r = missing(&m, &read(&m, &w), &w).expect("refused");
        assert_eq!(r.reason, "missing_claim");
        assert!(r.message.contains("user.id") && r.message.contains("It sent: user.email"), "{}", r.message);
        let w = who(&[("user.id", &["1"]), ("user.email", &["o@acme.test"])]);
        assert!(missing(&m, &read(&m, &w), &w).is_none());
    }

    #[test]
    fn claims_become_a_valid_scim_user() {
        let mut m = ClaimPreset::Generic.mapping();
        m.attributes = vec![
            ClaimAttribute { claim: "dept".into(), attribute: "department".into() },
            ClaimAttribute { claim: "c".into(), attribute: "country".into() },
            ClaimAttribute { claim: "t".into(), attribute: "title".into() },
        ];
        let w = who(&[
            ("uniqueUserId", &["u1"]),
            ("email", &["ada@acme.test"]),
            ("firstName", &["Ada"]),
            ("dept", &["Research"]),
            ("c", &["GB"]),
            ("t", &["<script>x</script>"]),
        ]);
        let res = resource(&read(&m, &w), true).expect("valid");
        assert_eq!(res["userName"], "ada@acme.test");
        assert_eq!(res["externalId"], "u1");
        assert_eq!(res[ENTERPRISE_USER_URN]["department"], "Research");
        assert_eq!(res["addresses"][0]["country"], "GB");
        assert_eq!(res["title"], "<script>x</script>");
        assert!(unchanged(&res.to_string(), &res));
        let rules = crate::rules::compile(&[crate::rules::RuleDef {
            id: "r".into(),
            condition: crate::rules::Condition::Attribute {
                filter: crate::rules::resolve_friendly_names("department eq \"Research\"").expect("filter"),
            },
            user_group_id: "g".into(),
            enabled: true,
        }])
        .expect("rules");
        assert!(rules[0].matches(&res, &[]), "an attribute rule places a JIT user by its claims");
    }

    #[test]
    fn the_mapping_form_is_checked() {
        let ok = MappingForm {
            unique_user_id: "user.id, uid".into(),
            email: "user.email".into(),
            attributes: "dept = department\n\nloc=Country".into(),
            ..MappingForm::default()
        };
        let m = ok.parse().expect("valid");
        assert_eq!(m.unique_user_id, vec!["user.id", "uid"]);
        assert_eq!(m.attributes[1].attribute, "country");
        assert_eq!(MappingForm::of(&m).parse().expect("round trip"), m);
        let bad = MappingForm { attributes: "x = password".into(), ..ok.clone() };
        assert!(bad.parse().is_err());
        let no_id = MappingForm { unique_user_id: " ".into(), ..ok };
        assert!(no_id.parse().is_err());
    }
}

//! IdP diagnostics for the SCIM page and the support console, read from the tenant's recent
//! SCIM requests (the activity log keeps each request's method, path, status, error, User-Agent
//! and body, secrets removed):
//!
//! * **which IdP** — by User-Agent, else by the shapes only one IdP sends;
//! * **Entra ID's PATCH dialect** — without the `aadOptscim062020` flag in its Tenant URL,
//!   Entra ID capitalises ops (`"Replace"`), sends booleans as strings (`"False"`) and removes
//!   group members by a value list; with it, PATCH follows RFC 7644. Roster accepts both, but
//!   Microsoft documents the flag's behaviour as the one to use (the old one will go);
//! * **silent** — an IdP that called in regular bursts (Entra ID every ~40 minutes) and has not
//!   for two of its usual intervals;
//! * **credentials about to expire** (an expired token quarantines an Entra ID job);
//! * **the most frequent errors** of the last 24 hours, each with a one-line fix.
//!
//! The analysis ([`analyse`]) is pure, so it is tested on recorded traffic.

use std::collections::HashMap;

use serde_json::Value;

use crate::clock::now_ms;
use crate::dto::{
    ActivityView, CredentialView, DetectedIdp, EntraMode, ErrorGroup, ExpiringCredential, IdpDiagnostics, Silence,
};
use crate::error::DomainResult;
use crate::ids::TenantId;
use crate::store::Store;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// Requests read (the last 7 days, newest first).
const TRAFFIC_LIMIT: i64 = 5_000;
/// A gap that starts a new burst of requests.
const BURST_GAP_MS: i64 = 5 * MINUTE_MS;
/// Credentials announced this long before they expire.
const EXPIRY_WINDOW_MS: i64 = 14 * DAY_MS;

/// The diagnostics of a tenant now.
pub async fn diagnostics(
    store: &Store,
    tenant: &TenantId,
    credentials: &[CredentialView],
) -> DomainResult<IdpDiagnostics> {
    let now = now_ms();
    let traffic = store.tenant(tenant).scim_requests(now - 7 * DAY_MS, TRAFFIC_LIMIT).await?;
    Ok(analyse(&traffic, credentials, now))
}

/// The IdP a User-Agent names.
fn idp_of_agent(agent: &str) -> Option<DetectedIdp> {
    let a = agent.to_ascii_lowercase();
    let named = [
        ("okta", DetectedIdp::Okta),
        ("azure", DetectedIdp::EntraId),
        ("microsoft", DetectedIdp::EntraId),
        ("aad", DetectedIdp::EntraId),
        ("entra", DetectedIdp::EntraId),
        ("onelogin", DetectedIdp::OneLogin),
        ("jumpcloud", DetectedIdp::JumpCloud),
        ("ping", DetectedIdp::Ping),
    ];
    named.into_iter().find(|(needle, _)| a.contains(needle)).map(|(_, idp)| idp)
}

/// What a PATCH body says about Entra ID's dialect: (legacy signals, compliant signals).
fn patch_dialect(body: &Value) -> (u64, u64) {
    let Some(ops) = body.get("Operations").and_then(Value::as_array) else { return (0, 0) };
    let (mut legacy, mut compliant) = (0, 0);
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        if name.chars().next().is_some_and(char::is_uppercase) {
            legacy += 1;
        } else if !name.is_empty() {
            compliant += 1;
        }
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        match op.get("value") {
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => legacy += 1,
            Some(Value::Bool(_)) => compliant += 1,
            Some(Value::Object(m)) if m.values().any(Value::is_boolean) => compliant += 1,
            Some(Value::Array(_)) if name.eq_ignore_ascii_case("remove") && path.eq_ignore_ascii_case("members") => {
                legacy += 1
            }
            None if name.eq_ignore_ascii_case("remove") && path.to_ascii_lowercase().starts_with("members[") => {
                compliant += 1
            }
            _ => {}
        }
    }
    (legacy, compliant)
}

/// The one-line fix of an error the IdP got.
fn fix_for(status: i32, scim_type: Option<&str>, detail: &str, method: &str) -> String {
    let d = detail.to_ascii_lowercase();
    match (status, scim_type) {
        (409, Some("uniqueness")) if d.contains("roster dashboard") => "A user added in Roster has this userName: mark it adoptable (Safety, Adopt existing users) so the identity provider takes it over, or rename it.".into(),
        (409, Some("uniqueness")) => "Another user already has this userName: find the duplicate in the identity provider, or check its matching attribute (userName).".into(),
        (409, _) => "Several changes to one resource collided: the identity provider retries on its next cycle; nothing to do unless it persists.".into(),
        (401, _) => "The credential is wrong, revoked or expired: generate a new token on the SCIM page and paste it into the identity provider.".into(),
        (403, _) if d.contains("disabled") => "The organization is disabled by the service operator: contact them.".into(),
        (403, _) => "SCIM is off for this organization, or the change is not allowed: switch SCIM on on the SCIM page.".into(),
        (404, _) if method == "GET" => "A lookup found nothing: normal when the identity provider checks before creating.".into(),
        (404, _) => "The identity provider changes a user or group Roster no longer has (deleted here or by another connection): restart provisioning in the identity provider so it creates it again.".into(),
        (400, Some("invalidFilter")) => "The identity provider sent a filter Roster cannot read: check the matching attributes in its attribute mappings (userName, externalId).".into(),
        (400, Some("mutability")) => "An attribute mapping writes a read-only attribute (such as id or groups): remove it from the identity provider's attribute mappings.".into(),
        (400, Some("invalidPath")) => "An attribute mapping targets an attribute Roster does not know: check the target attribute names in the identity provider's mappings.".into(),
        (400, _) => "An attribute mapping sends a value of the wrong type or shape: check the attribute named in the error in the identity provider's mappings.".into(),
        (412, _) => "The resource changed between the identity provider's read and its write: it retries on its next cycle.".into(),
        (413, _) => "The request is larger than 1 MiB: send fewer operations or members per request.".into(),
        (429, _) => "The identity provider sends requests faster than the rate limit: lower its concurrency, or ask the operator to raise the limit.".into(),
        (s, _) if s >= 500 => "Roster could not complete the request: it is safe to retry; if it persists, contact support with the activity record.".into(),
        _ => "See the activity record for the request and its answer.".into(),
    }
}

/// The diagnostics of `traffic` (SCIM requests of the last 7 days, newest first) and
/// `credentials`, at `now`.
pub fn analyse(traffic: &[ActivityView], credentials: &[CredentialView], now: i64) -> IdpDiagnostics {
    let mut out = IdpDiagnostics::default();
    // Who: the most frequent named User-Agent, else the shapes.
    let mut agents: HashMap<&str, u64> = HashMap::new();
    for r in traffic {
        if let Some(a) = r.user_agent.as_deref().filter(|a| !a.is_empty()) {
            *agents.entry(a).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, u64)> = agents.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out.user_agents = ranked.iter().take(3).map(|(a, _)| a.to_string()).collect();
    let mut signals = (0u64, 0u64);
    let mut entra_shapes = 0u64;
    for r in traffic.iter().filter(|r| r.method.as_deref() == Some("PATCH")) {
        if let Some(body) = r.request_body.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok()) {
            let (l, c) = patch_dialect(&body);
            signals.0 += l;
            signals.1 += c;
            // Only Entra ID capitalises op names.
            if body.get("Operations").and_then(Value::as_array).is_some_and(|ops| {
                ops.iter()
                    .any(|o| o.get("op").and_then(Value::as_str).is_some_and(|n| n.starts_with(char::is_uppercase)))
            }) {
                entra_shapes += 1;
            }
        }
    }
    out.idp = ranked
        .iter()
        .find_map(|(a, _)| idp_of_agent(a))
        .or_else(|| (entra_shapes > 0).then_some(DetectedIdp::EntraId))
        .unwrap_or(if ranked.is_empty() { DetectedIdp::Unknown } else { DetectedIdp::Other });
    if out.idp == DetectedIdp::EntraId {
        out.entra_signals = signals;
        out.entra_mode = Some(match signals {
            (0, 0) => EntraMode::NotSeen,
            (l, _) if l > 0 => EntraMode::Legacy,
            _ => EntraMode::Compliant,
        });
    }
    // Silent: bursts of requests at a regular interval, and none for two of them.
    let mut times: Vec<i64> = traffic.iter().map(|r| r.at_ms).collect();
    times.sort_unstable();
    let starts: Vec<i64> = times
        .iter()
        .enumerate()
        .filter(|(i, t)| *i == 0 || **t - times[i - 1] > BURST_GAP_MS)
        .map(|(_, t)| *t)
        .collect();
    if starts.len() >= 4 {
        let mut gaps: Vec<i64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_unstable();
        let usual = gaps[gaps.len() / 2];
        let last = times.last().copied().unwrap_or(now);
        if usual <= DAY_MS && now - last > 2 * usual {
            out.silent = Some(Silence { last_request_at_ms: last, usual_interval_minutes: (usual / MINUTE_MS).max(1) });
        }
    }
    // Credentials about to expire (not revoked, not already replaced).
    let used_since = now - 7 * DAY_MS;
    out.expiring = credentials
        .iter()
        .filter(|c| c.revoked_at_ms.is_none() && c.replaced_by.is_none())
        .filter_map(|c| {
            let at = c.expires_at_ms?;
            (at > now && at - now <= EXPIRY_WINDOW_MS).then(|| ExpiringCredential {
                name: c.name.clone(),
                expires_at_ms: at,
                days_left: (at - now + DAY_MS - 1) / DAY_MS,
                in_use: c.last_used_at_ms.is_some_and(|u| u >= used_since),
            })
        })
        .collect();
    // The most frequent errors of the last 24 hours.
    let mut groups: Vec<ErrorGroup> = Vec::new();
    for r in traffic.iter().filter(|r| r.at_ms >= now - DAY_MS && r.status.is_some_and(|s| s >= 400)) {
        let status = r.status.unwrap_or_default();
        let method = r.method.clone().unwrap_or_default();
        // 404 lookups are how IdPs check before creating: not an error to fix.
        if status == 404 && method == "GET" {
            continue;
        }
        let kind = (status, r.scim_type.clone());
        match groups.iter_mut().find(|g| (g.status, g.scim_type.clone()) == kind) {
            Some(g) => g.count += 1,
            None => groups.push(ErrorGroup {
                status,
                scim_type: r.scim_type.clone(),
                count: 1,
                example: format!(
                    "{method} {}: {}",
                    r.path.as_deref().unwrap_or_default(),
                    r.detail.as_deref().unwrap_or(&r.summary)
                ),
                latest_id: r.id,
                fix: fix_for(status, r.scim_type.as_deref(), r.detail.as_deref().unwrap_or_default(), &method),
            }),
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.status.cmp(&b.status)));
    groups.truncate(5);
    out.top_errors = groups;
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(at: i64, method: &str, status: i32, agent: &str, body: Option<Value>) -> ActivityView {
        ActivityView {
            id: 0,
            at_ms: at,
            actor: "scim".into(),
            actor_name: None,
            credential_id: None,
            method: Some(method.into()),
            path: Some("/scim/v2/t/Users/1".into()),
            status: Some(status),
            latency_ms: None,
            resource_type: None,
            resource_id: None,
            summary: "x".into(),
            scim_type: None,
            detail: None,
            user_agent: Some(agent.into()),
            request_body: body.map(|b| b.to_string()),
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    fn traffic(records: Vec<ActivityView>) -> Vec<ActivityView> {
        let mut v: Vec<ActivityView> =
            records.into_iter().enumerate().map(|(i, r)| ActivityView { id: i as i64 + 1, ..r }).collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
        v
    }

    #[test]
    fn entra_without_the_flag_is_told_by_its_capitalised_ops_and_string_booleans() {
        // Microsoft's examples of the default (legacy) dialect.
        let t = traffic(vec![
            req(
                NOW - 1000,
                "PATCH",
                200,
                "",
                Some(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
                ),
            ),
            req(
                NOW - 900,
                "PATCH",
                204,
                "",
                Some(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": "7f4bc1a3"}]}]}),
                ),
            ),
        ]);
        let d = analyse(&t, &[], NOW);
        assert_eq!(d.idp, DetectedIdp::EntraId);
        assert_eq!(d.entra_mode, Some(EntraMode::Legacy));
    }

    #[test]
    fn entra_with_the_flag_speaks_rfc_7644() {
        let t = traffic(vec![
            req(
                NOW - 1000,
                "PATCH",
                200,
                "Microsoft.Identity.Provisioning",
                Some(json!({"Operations": [{"op": "replace", "value": {"active": false}}]})),
            ),
            req(
                NOW - 900,
                "PATCH",
                204,
                "Microsoft.Identity.Provisioning",
                Some(json!({"Operations": [{"op": "remove", "path": "members[value eq \"7f4bc1a3\"]"}]})),
            ),
        ]);
        let d = analyse(&t, &[], NOW);
        assert_eq!((d.idp, d.entra_mode), (DetectedIdp::EntraId, Some(EntraMode::Compliant)));
        // No PATCH yet: not seen.
        let t = traffic(vec![req(NOW - 1000, "GET", 200, "Microsoft Azure AD", None)]);
        assert_eq!(analyse(&t, &[], NOW).entra_mode, Some(EntraMode::NotSeen));
    }

    #[test]
    fn okta_by_its_agent_and_other_clients_as_such() {
        let t = traffic(vec![req(NOW - 1000, "POST", 201, "Okta SCIM Client 1.0.0", None)]);
        let d = analyse(&t, &[], NOW);
        assert_eq!((d.idp, d.entra_mode), (DetectedIdp::Okta, None));
        let t = traffic(vec![req(NOW - 1000, "POST", 201, "curl/8.0", None)]);
        assert_eq!(analyse(&t, &[], NOW).idp, DetectedIdp::Other);
        assert_eq!(analyse(&[], &[], NOW).idp, DetectedIdp::Unknown);
    }

    #[test]
    fn an_idp_that_called_every_40_minutes_is_silent_after_two_missed_cycles() {
        let cycle = 40 * MINUTE_MS;
        let mut records = Vec::new();
        for i in 0..10 {
            let start = NOW - 3 * 3_600_000 - i * cycle;
            records.push(req(start, "GET", 200, "Azure", None));
            records.push(req(start + 1000, "PATCH", 200, "Azure", None));
        }
        let d = analyse(&traffic(records.clone()), &[], NOW);
        let s = d.silent.expect("silent");
        assert_eq!(s.usual_interval_minutes, 40);
        // An hour after its last request it is only one cycle late: not silent.
        let d = analyse(&traffic(records), &[], NOW - 2 * 3_600_000);
        assert!(d.silent.is_none());
    }

    #[test]
    fn errors_are_grouped_with_a_fix_and_lookups_are_not_errors() {
        let mut records = Vec::new();
        for i in 0..3 {
            let mut r = req(NOW - 1000 - i, "POST", 409, "Okta", None);
            r.scim_type = Some("uniqueness".into());
            r.detail = Some("userName 'x' belongs to a user an admin created in the Roster dashboard".into());
            records.push(r);
        }
        records.push(req(NOW - 500, "GET", 404, "Okta", None));
        records.push(req(NOW - 400, "POST", 401, "Okta", None));
        let d = analyse(&traffic(records), &[], NOW);
        assert_eq!(d.top_errors.len(), 2);
        assert_eq!((d.top_errors[0].status, d.top_errors[0].count), (409, 3));
        assert!(d.top_errors[0].fix.contains("mark it adoptable"));
        assert!(d.top_errors[1].fix.contains("generate a new token"));
    }
}

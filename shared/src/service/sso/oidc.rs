//! The OpenID Connect relying party: discovery, the authorization code flow with PKCE (S256),
//! `state` and `nonce`, the ID token's signature, issuer, audience, expiry and nonce checked by
//! the `openidconnect` crate, and userinfo's claims added to the ID token's (every claim either
//! sends, not only the standard ones: a connection's mapping may name any).
//!
//! Every request to the IdP goes through [`super::fetch::FetchPolicy`] (https only, limits).

use std::collections::BTreeMap;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use super::connections::OidcConfig;
use super::fetch::{FetchError, FetchPolicy};
use super::sign_in::{Identity, Refusal};
use super::{clip, random_token, sp_values, SsoSettings, FLOW_TTL_MS};
use crate::clock::now_ms;
use crate::dto::SsoProtocol;
use crate::error::{DomainError, DomainResult};
use crate::store::{ConnectionRecord, FlowRecord, Store};

/// The scopes asked for when an admin names none.
pub const DEFAULT_SCOPES: &str = "openid email profile";

/// Checks and normalizes a space-separated scope list (`openid` is always included).
pub fn checked_scopes(scopes: &str) -> DomainResult<String> {
    let mut out: Vec<&str> = vec!["openid"];
    let given = if scopes.trim().is_empty() { DEFAULT_SCOPES } else { scopes };
    for s in given.split_whitespace() {
        if s.len() > 100 || !s.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\') {
            return Err(DomainError::Invalid(format!("{s:?} is not a valid scope.")));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.len() > 20 {
        return Err(DomainError::Invalid("At most 20 scopes.".into()));
    }
    Ok(out.join(" "))
}

fn http(
    policy: &FetchPolicy,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, FetchError>> + Send>,
> + '_ {
    move |request| {
        let policy = policy.clone();
        Box::pin(async move { policy.send(request, "identity provider").await })
    }
}

/// How long a discovery document (and its keys) is reused: long enough for a sign-in's start
/// and its callback and for a burst of sign-ins, short enough that a key rotation is seen soon.
const DISCOVERY_TTL: std::time::Duration = std::time::Duration::from_secs(60);

type DiscoveryCache = std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, CoreProviderMetadata)>>;

fn discovery_cache() -> &'static DiscoveryCache {
    static CACHE: std::sync::OnceLock<DiscoveryCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// [`discover`], reusing a document fetched in the last minute.
async fn discover_cached(policy: &FetchPolicy, issuer: &str) -> DomainResult<CoreProviderMetadata> {
    let cached = discovery_cache()
        .lock()
        .ok()
        .and_then(|c| c.get(issuer).filter(|(at, _)| at.elapsed() < DISCOVERY_TTL).map(|(_, m)| m.clone()));
    if let Some(m) = cached {
        return Ok(m);
    }
    let fresh = discover(policy, issuer).await?;
    if let Ok(mut c) = discovery_cache().lock() {
        c.retain(|_, (at, _)| at.elapsed() < DISCOVERY_TTL);
        c.insert(issuer.to_string(), (std::time::Instant::now(), fresh.clone()));
    }
    Ok(fresh)
}

/// Fetches and checks the issuer's discovery document (and its keys).
pub async fn discover(policy: &FetchPolicy, issuer: &str) -> DomainResult<CoreProviderMetadata> {
    policy.check(issuer, "issuer").map_err(|e| DomainError::Invalid(e.0))?;
    let url = IssuerUrl::new(issuer.to_string())
        .map_err(|_| DomainError::Invalid("The issuer is not a valid URL.".into()))?;
    CoreProviderMetadata::discover_async(url, &http(policy)).await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        DomainError::Invalid(format!("The issuer's discovery document could not be used: {text}"))
    })
}

fn config(c: &ConnectionRecord) -> DomainResult<OidcConfig> {
    serde_json::from_str(&c.config).map_err(|e| DomainError::Internal(format!("OIDC connection config: {e}")))
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

async fn client(settings: &SsoSettings, public_url: &str, c: &ConnectionRecord) -> DomainResult<(Client, OidcConfig)> {
    let cfg = config(c)?;
    let metadata = discover_cached(&settings.fetch, &c.idp_key).await?;
    let secret = settings.key.open(&cfg.client_secret, &c.id)?;
    let redirect = RedirectUrl::new(sp_values(public_url, SsoProtocol::Oidc, &c.id).redirect_uri)
        .map_err(|e| DomainError::Internal(format!("redirect URI: {e}")))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(cfg.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect);
    Ok((client, cfg))
}

/// Starts a sign-in: the authorization URL, and the flow (state, nonce, PKCE verifier) stored
/// for this browser.
pub async fn begin(
    store: &Store,
    settings: &SsoSettings,
    public_url: &str,
    c: &ConnectionRecord,
    browser_secret: Option<String>,
    test_by: Option<String>,
) -> DomainResult<super::Started> {
    let (client, cfg) = client(settings, public_url, c).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request =
        client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for s in cfg.scopes.split_whitespace().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(s.to_string()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let browser_secret = browser_secret.filter(|s| s.len() == 32).unwrap_or_else(random_token);
    let now = now_ms();
    store
        .insert_sso_flow(
            &FlowRecord {
                id: state.secret().clone(),
                tenant_id: c.tenant_id.clone(),
                connection_id: c.id.clone(),
                browser_hash: crate::service::credentials::hash_secret(&browser_secret),
                nonce: Some(nonce.secret().clone()),
                pkce_verifier: Some(verifier.secret().clone()),
                test_by,
                expires_at: now + FLOW_TTL_MS,
            },
            now,
        )
        .await?;
    Ok(super::Started { redirect_to: url.to_string(), browser_secret })
}

/// What the IdP sent back to the redirect URI.
#[derive(Clone, Debug, Default)]
pub struct Callback {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error`, when the IdP refused.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

fn claims_map(value: &serde_json::Value, out: &mut BTreeMap<String, Vec<String>>) {
    if let Some(obj) = value.as_object() {
        for (k, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                serde_json::Value::Bool(b) => vec![b.to_string()],
                serde_json::Value::Number(n) => vec![n.to_string()],
                _ => continue,
            };
            out.entry(k.clone()).or_default().extend(values);
        }
    }
}

/// The claims of a userinfo answer beyond the standard ones (groups, department, an IdP's own),
/// as sent: the crate's `CoreUserInfoClaims` would drop them.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl openidconnect::AdditionalClaims for OtherClaims {}

/// Every claim of an ID token whose signature, issuer, audience, expiry and nonce the crate has
/// just verified, read from the token's own payload: its `CoreIdTokenClaims` keep the standard
/// claims only, and an IdP's groups or department are further claims. `None` if the payload
/// does not read as a JSON object (the standard claims are used then).
fn verified_payload(token: &impl std::fmt::Display) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let compact = token.to_string();
    let payload = compact.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok().filter(serde_json::Value::is_object)
}

fn refusal(reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::new(reason, message)
}

/// Finishes a sign-in at the redirect URI: the flow named by `state` (this browser's, once),
/// the code exchanged with the PKCE verifier, the ID token verified (signature, issuer,
/// audience, expiry, nonce), userinfo if needed. The flow is returned whenever it was found
/// (its `test_by` decides where the result goes).
pub async fn complete(
    store: &Store,
    settings: &SsoSettings,
    public_url: &str,
    c: &ConnectionRecord,
    callback: &Callback,
    browser_secret: Option<&str>,
) -> DomainResult<(Result<Identity, Refusal>, Option<FlowRecord>)> {
    let Some(state) = callback.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 200) else {
        return Ok((Err(refusal("bad_state", "The IdP came back without a state.")), None));
    };
    let hash = browser_secret.map(crate::service::credentials::hash_secret).unwrap_or_default();
    let Some(flow) = store.take_sso_flow(&c.id, state, &hash, now_ms()).await? else {
        return Ok((
            Err(refusal(
                "bad_state",
                "The state does not name a sign-in this browser started here (unknown, expired, already used, or started in another browser).",
            )),
            None,
        ));
    };
    if let Some(error) = &callback.error {
        let description = callback.error_description.as_deref().unwrap_or("");
        return Ok((
            Err(refusal("idp_error", clip(&format!("The IdP refused: {error} {description}"), 500))),
            Some(flow),
        ));
    }
    let Some(code) = callback.code.clone().filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return Ok((Err(refusal("malformed", "The IdP came back without a code.")), Some(flow)));
    };
    let result = exchange(settings, public_url, c, &flow, code).await?;
    Ok((result, Some(flow)))
}

async fn exchange(
    settings: &SsoSettings,
    public_url: &str,
    c: &ConnectionRecord,
    flow: &FlowRecord,
    code: String,
) -> DomainResult<Result<Identity, Refusal>> {
    let (client, _) = match client(settings, public_url, c).await {
        Ok(x) => x,
        Err(DomainError::Invalid(m)) => return Ok(Err(refusal("idp_unreachable", m))),
        Err(e) => return Err(e),
    };
    let http = http(&settings.fetch);
    let request = match client.exchange_code(AuthorizationCode::new(code)) {
        Ok(r) => r,
        Err(e) => return Ok(Err(refusal("idp_error", format!("The IdP has no token endpoint: {e}")))),
    };
    let verifier = PkceCodeVerifier::new(flow.pkce_verifier.clone().unwrap_or_default());
    let tokens = match request.set_pkce_verifier(verifier).request_async(&http).await {
        Ok(t) => t,
        Err(e) => {
            let detail = match &e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    format!("{}{}", r.error(), r.error_description().map(|d| format!(": {d}")).unwrap_or_default())
                }
                other => other.to_string(),
            };
            return Ok(Err(refusal(
                "token_exchange_failed",
                clip(&format!("The code exchange failed: {detail}"), 500),
            )));
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return Ok(Err(refusal("bad_id_token", "The token response has no ID token.")));
    };
    let nonce = Nonce::new(flow.nonce.clone().unwrap_or_default());
    let verifier = client.id_token_verifier();
    let claims: &CoreIdTokenClaims = match id_token.claims(&verifier, &nonce) {
        Ok(c) => c,
        Err(e) => {
            let (reason, message) = match &e {
                ClaimsVerificationError::InvalidNonce(_) => {
                    ("bad_nonce", "The ID token's nonce is not the one sent.".to_string())
                }
                ClaimsVerificationError::InvalidAudience(m) => {
                    ("wrong_audience", format!("The ID token is for another client: {m}"))
                }
                ClaimsVerificationError::InvalidIssuer(m) => {
                    ("wrong_issuer", format!("The ID token's issuer is wrong: {m}"))
                }
                ClaimsVerificationError::Expired(m) => ("expired", format!("The ID token expired: {m}")),
                ClaimsVerificationError::SignatureVerification(m) => {
                    ("bad_signature", format!("The ID token's signature does not verify: {m}"))
                }
                other => ("bad_id_token", format!("The ID token was refused: {other}")),
            };
            return Ok(Err(refusal(reason, message)));
        }
    };
    let mut json = verified_payload(id_token).unwrap_or_else(|| serde_json::to_value(claims).unwrap_or_default());
    let mut detail = serde_json::json!({ "id_token": json.clone() });
    // Userinfo, at every sign-in when the IdP has it: IdPs leave claims out of the ID token
    // (oidc-provider keeps it minimal; Okta sends profile claims and groups there only when
    // configured to), and a connection's mapping may name any claim. The ID token's claims win.
    if let Ok(request) = client.user_info(tokens.access_token().clone(), Some(claims.subject().clone())) {
        match request.request_async::<OtherClaims, _, CoreGenderClaim>(&http).await {
            Ok(info) => {
                let info: openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim> = info;
                let info_json = serde_json::to_value(&info).unwrap_or_default();
                if let (Some(obj), Some(extra)) = (json.as_object_mut(), info_json.as_object()) {
                    for (k, v) in extra {
                        obj.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                detail["userinfo"] = info_json;
            }
            Err(e) => detail["userinfo_error"] = serde_json::Value::String(clip(&e.to_string(), 300)),
        }
    }
    // Tokens themselves never reach the log; nonce and hashes say nothing useful to a person.
    for key in ["nonce", "at_hash", "c_hash"] {
        if let Some(obj) = detail["id_token"].as_object_mut() {
            obj.remove(key);
        }
    }
    let mut attributes = BTreeMap::new();
    claims_map(&json, &mut attributes);
    let verified = json.get("email_verified").and_then(serde_json::Value::as_bool) != Some(false);
    let email = json.get("email").and_then(|v| v.as_str()).filter(|_| verified).map(str::to_string);
    Ok(Ok(Identity {
        subject: claims.subject().as_str().to_string(),
        email,
        attributes,
        detail: clip(&serde_json::to_string_pretty(&detail).unwrap_or_default(), 64 * 1024),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_tokens_payload_keeps_every_claim() {
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = serde_json::json!({"sub": "ada", "groups": ["Staff", "Sales"], "department": "R&D", "oid": "9f"});
        let token = format!("{}.{}.c2ln", b64(&serde_json::json!({"alg": "RS256"})), b64(&claims));
        assert_eq!(verified_payload(&token), Some(claims));
        // Not a JSON object: None (the standard claims are used).
        let token = format!("{}.{}.c2ln", b64(&serde_json::json!({"alg": "RS256"})), b64(&serde_json::json!([1])));
        assert_eq!(verified_payload(&token), None);
        assert_eq!(verified_payload(&"not-a-token"), None);
        assert_eq!(verified_payload(&"a.!!!.b"), None);
    }

    #[test]
    fn scopes_always_include_openid_once() {
        assert_eq!(checked_scopes("").unwrap(), "openid email profile");
        assert_eq!(checked_scopes("email openid groups").unwrap(), "openid email groups");
        assert!(checked_scopes("email \"x").is_err());
    }
}

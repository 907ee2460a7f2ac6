//! The SAML 2.0 service provider: SP metadata, the AuthnRequest (HTTP-Redirect binding) and the
//! validation of the Response the browser posts back (HTTP-POST binding).
//!
//! Signatures are checked by samael with its `xmlsec` feature (libxmlsec1), never without it: its
//! fallback accepts any signature. samael verifies every signature in the document against the
//! connection's certificates, only RSA/ECDSA with SHA-256 or stronger (digests too), and hands
//! back the content covered by a verified signature and nothing else (`ReduceMode::
//! ValidateAndMarkNoAncestors`), so the assertion read is the assertion that was signed —
//! whatever else an attacker wraps around or beside it (signature wrapping). An assertion must
//! be covered by a signature: its own, or its Response's.
//!
//! On the verified assertion, samael checks issuer, issue instant, `NotBefore`/`NotOnOrAfter`
//! (conditions and subject confirmation, 60 s skew), audience and recipient, and the Response's
//! destination and status. Roster adds what samael leaves to the caller: an audience
//! restriction must be present; `InResponseTo` must name a request this connection sent to this
//! browser (a flow, taken once, bound to a cookie) — or, with no `InResponseTo` at all, the
//! connection must allow IdP-initiated sign-in; and each assertion id is accepted once.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::EntityDescriptor;
use samael::schema::{Assertion, AuthnRequest};
use samael::service_provider::{Error as SpError, ServiceProvider, ServiceProviderBuilder};

use super::connections::SamlConfig;
use super::sign_in::{Identity, Refusal};
use super::{clip, random_token, sp_values, Started, FLOW_TTL_MS};
use crate::clock::now_ms;
use crate::dto::{CertificateView, SsoProtocol};
use crate::error::{DomainError, DomainResult};
use crate::store::{ConnectionRecord, FlowRecord, Store};

const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The largest metadata document or Response accepted.
pub const MAX_XML_BYTES: usize = 512 * 1024;
/// Clock skew allowed on both sides of a validity window.
const SKEW_SECS: i64 = 60;
/// How old a Response or Assertion may be when it arrives (its IssueInstant).
const MAX_ISSUE_DELAY_SECS: i64 = 180;

/// An IdP's settings, read from its metadata or typed by an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpSettings {
    /// The IdP's entity ID.
    pub entity_id: String,
    /// Its SSO URL (HTTP-Redirect).
    pub sso_url: String,
    /// Its signing certificates, base64 DER.
    pub certificates: Vec<String>,
}

impl IdpSettings {
    /// Reads an IdP's `EntityDescriptor` metadata.
    pub fn from_metadata(xml: &str) -> DomainResult<IdpSettings> {
        if xml.len() > MAX_XML_BYTES {
            return Err(DomainError::Invalid(format!("The metadata is larger than {} KB.", MAX_XML_BYTES / 1024)));
        }
        if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
            return Err(DomainError::Invalid("The metadata must not contain a DOCTYPE.".into()));
        }
        let md: EntityDescriptor = xml.trim().parse().map_err(|_| {
            DomainError::Invalid(
                "This is not SAML IdP metadata (an <EntityDescriptor> with an <IDPSSODescriptor>).".into(),
            )
        })?;
        let entity_id = md.entity_id.clone().unwrap_or_default();
        let descriptors = md.idp_sso_descriptors.clone().unwrap_or_default();
        if descriptors.is_empty() {
            return Err(DomainError::Invalid("The metadata has no <IDPSSODescriptor>: is it an IdP's?".into()));
        }
        let sso_url = descriptors
            .iter()
            .flat_map(|d| d.single_sign_on_services.iter())
            .find(|s| s.binding == HTTP_REDIRECT)
            .map(|s| s.location.clone())
            .ok_or_else(|| {
                DomainError::Invalid("The metadata has no SingleSignOnService with the HTTP-Redirect binding.".into())
            })?;
        let mut certificates = Vec::new();
        for d in &descriptors {
            for k in &d.key_descriptors {
                if k.key_use.as_deref().is_some_and(|u| u == "encryption") {
                    continue;
                }
                for c in k.key_info.x509_data.iter().flat_map(|x| x.certificates.iter()) {
                    let b64: String = c.chars().filter(|c| !c.is_whitespace()).collect();
                    if !certificates.contains(&b64) {
                        certificates.push(b64);
                    }
                }
            }
        }
        IdpSettings::checked(entity_id, sso_url, certificates)
    }

    /// Settings typed by an admin; `certificates` is PEM (one or more) or base64 DER.
    pub fn typed(entity_id: &str, sso_url: &str, certificates: &str) -> DomainResult<IdpSettings> {
        IdpSettings::checked(
            entity_id.trim().to_string(),
            sso_url.trim().to_string(),
            parse_certificates(certificates)?,
        )
    }

    fn checked(entity_id: String, sso_url: String, certificates: Vec<String>) -> DomainResult<IdpSettings> {
        if entity_id.is_empty() || entity_id.len() > 1024 {
            return Err(DomainError::Invalid(
                "The IdP's entity ID is missing (or longer than 1024 characters).".into(),
            ));
        }
        let url = url::Url::parse(&sso_url)
            .map_err(|_| DomainError::Invalid("The IdP's SSO URL is not a valid URL.".into()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(DomainError::Invalid("The IdP's SSO URL must be an https:// URL.".into()));
        }
        if certificates.is_empty() {
            return Err(DomainError::Invalid(
                "No signing certificate: Roster only accepts signed assertions, so it needs the IdP's certificate."
                    .into(),
            ));
        }
        if certificates.len() > 5 {
            return Err(DomainError::Invalid("At most 5 signing certificates.".into()));
        }
        for c in &certificates {
            certificate_view(c)?;
        }
        Ok(IdpSettings { entity_id, sso_url, certificates })
    }
}

/// Reads PEM certificates (or one bare base64 DER certificate) into base64 DER.
pub fn parse_certificates(text: &str) -> DomainResult<Vec<String>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.contains("-----BEGIN") {
        let certs = openssl::x509::X509::stack_from_pem(text.as_bytes())
            .map_err(|_| DomainError::Invalid("The certificate is not valid PEM.".into()))?;
        certs
            .iter()
            .map(|c| c.to_der().map(|d| STANDARD.encode(d)))
            .collect::<Result<_, _>>()
            .map_err(|_| DomainError::Invalid("The certificate is not valid PEM.".into()))
    } else {
        Ok(vec![text.chars().filter(|c| !c.is_whitespace()).collect()])
    }
}

/// A certificate's subject, expiry and fingerprint; refuses what is not an X.509 certificate
/// with an RSA key of at least 2048 bits or an EC key.
pub fn certificate_view(b64: &str) -> DomainResult<CertificateView> {
    let bad = || DomainError::Invalid("A signing certificate is not a valid X.509 certificate.".into());
    let der = STANDARD.decode(b64).map_err(|_| bad())?;
    let cert = openssl::x509::X509::from_der(&der).map_err(|_| bad())?;
    let key = cert.public_key().map_err(|_| bad())?;
    match key.id() {
        openssl::pkey::Id::RSA if key.bits() >= 2048 => {}
        openssl::pkey::Id::EC => {}
        _ => {
            return Err(DomainError::Invalid(
                "The signing certificate's key is too weak: RSA of at least 2048 bits or EC.".into(),
            ))
        }
    }
    let subject = cert
        .subject_name()
        .entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|_| bad())?;
    let diff = epoch.diff(cert.not_after()).map_err(|_| bad())?;
    let not_after_ms = (i64::from(diff.days) * 86_400 + i64::from(diff.secs)) * 1000;
    let digest = cert.digest(openssl::hash::MessageDigest::sha256()).map_err(|_| bad())?;
    let sha256 = digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    Ok(CertificateView { subject, not_after_ms, sha256 })
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Roster's SP metadata for a connection: entity ID, the ACS (HTTP-POST), signed assertions
/// wanted.
pub fn sp_metadata(public_url: &str, connection_id: &str) -> String {
    let sp = sp_values(public_url, SsoProtocol::Saml, connection_id);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = escape_attr(&sp.entity_id),
        acs = escape_attr(&sp.acs_url),
    )
}

fn config(c: &ConnectionRecord) -> DomainResult<SamlConfig> {
    serde_json::from_str(&c.config).map_err(|e| DomainError::Internal(format!("SAML connection config: {e}")))
}

/// The IdP metadata samael validates against, built from what Roster stored.
fn idp_metadata(entity_id: &str, cfg: &SamlConfig) -> DomainResult<EntityDescriptor> {
    let keys: String = cfg
        .certificates
        .iter()
        .map(|c| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                escape_attr(c)
            )
        })
        .collect();
    let xml = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<md:SingleSignOnService Binding="{HTTP_REDIRECT}" Location="{}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        escape_attr(entity_id),
        escape_attr(&cfg.sso_url)
    );
    xml.parse().map_err(|e| DomainError::Internal(format!("stored IdP metadata: {e}")))
}

fn service_provider(public_url: &str, c: &ConnectionRecord, cfg: &SamlConfig) -> DomainResult<ServiceProvider> {
    let sp = sp_values(public_url, SsoProtocol::Saml, &c.id);
    ServiceProviderBuilder::default()
        .entity_id(sp.entity_id.clone())
        .metadata_url(sp.metadata_url)
        .acs_url(sp.acs_url)
        .idp_metadata(idp_metadata(&c.idp_key, cfg)?)
        // samael's own InResponseTo check is replaced by ours (a flow of this browser, taken
        // once); with this it still checks recipient and validity of the bearer confirmation.
        .allow_idp_initiated(true)
        .max_clock_skew(chrono::Duration::seconds(SKEW_SECS))
        .max_issue_delay(chrono::Duration::seconds(MAX_ISSUE_DELAY_SECS))
        .allowed_signature_algorithms(Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
            AllowedSignatureAlgorithm::EcdsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha384,
            AllowedSignatureAlgorithm::EcdsaSha512,
        ]))
        .build()
        .map_err(|e| DomainError::Internal(format!("SAML service provider: {e}")))
}

/// Starts an SP-initiated sign-in: an AuthnRequest whose id is stored as a flow of this browser.
pub async fn begin(
    store: &Store,
    public_url: &str,
    c: &ConnectionRecord,
    browser_secret: Option<String>,
    test_by: Option<String>,
) -> DomainResult<Started> {
    let cfg = config(c)?;
    let sp = service_provider(public_url, c, &cfg)?;
    let mut request: AuthnRequest = sp
        .make_authentication_request(&cfg.sso_url)
        .map_err(|e| DomainError::Internal(format!("AuthnRequest: {e}")))?;
    // samael's ids carry 32 random bits; a flow id is 128.
    request.id = format!("_{}", random_token());
    let redirect_to = request
        .redirect("")
        .map_err(|e| DomainError::Internal(format!("AuthnRequest redirect: {e}")))?
        .ok_or_else(|| DomainError::Internal("AuthnRequest without destination".into()))?
        .to_string();
    let browser_secret = browser_secret.filter(|s| s.len() == 32).unwrap_or_else(random_token);
    let now = now_ms();
    store
        .insert_sso_flow(
            &FlowRecord {
                id: request.id.clone(),
                tenant_id: c.tenant_id.clone(),
                connection_id: c.id.clone(),
                browser_hash: crate::service::credentials::hash_secret(&browser_secret),
                nonce: None,
                pkce_verifier: None,
                test_by,
                expires_at: now + FLOW_TTL_MS,
            },
            now,
        )
        .await?;
    Ok(Started { redirect_to, browser_secret })
}

/// The response as the sign-in log keeps it: the XML with signature values and certificates
/// shortened (they are long and say nothing to a person), at most 64 KB.
fn detail_of(xml: &str) -> String {
    let mut out = xml.to_string();
    for tag in ["SignatureValue", "X509Certificate"] {
        let mut from = 0;
        while let Some(at) = out[from..].find(&format!("{tag}>")).map(|i| from + i) {
            let start = at + tag.len() + 1;
            // An opening tag: the '<' before the name is not followed by '/'.
            let opening = out[..at].rfind('<').is_some_and(|lt| !out[lt + 1..].starts_with('/'));
            if !opening {
                from = start;
                continue;
            }
            let Some(end) = out[start..].find("</").map(|i| start + i) else { break };
            out.replace_range(start..end, "…");
            from = start + "…".len();
        }
    }
    clip(&out, 64 * 1024)
}

fn refusal(reason: &'static str, message: impl Into<String>, detail: Option<String>) -> Refusal {
    Refusal { detail, ..Refusal::new(reason, message) }
}

fn samael_refusal(e: &SpError, detail: Option<String>) -> Refusal {
    use SpError as E;
    let (reason, message) = match e {
        E::FailedToValidateSignature => (
            "bad_signature",
            "The signature does not verify with the connection's certificate (or the assertion is not signed, or uses a weak algorithm such as SHA-1).".to_string(),
        ),
        E::AssertionExpired { time } | E::ResponseExpired { time } => {
            ("expired", format!("The response was issued too long ago (valid until {time})."))
        }
        E::AssertionConditionExpired { time } | E::AssertionSubjectConfirmationExpired { time } => {
            ("expired", format!("The assertion expired at {time}."))
        }
        E::AssertionConditionExpiredBefore { time } | E::AssertionSubjectConfirmationExpiredBefore { time } => {
            ("not_yet_valid", format!("The assertion is not valid before {time} (are the clocks in sync?)."))
        }
        E::AssertionConditionAudienceRestrictionFailed { requirement } => {
            ("wrong_audience", format!("The assertion is for another audience, not {requirement}."))
        }
        E::AssertionRecipientMismatch { assertion_recipient, sp_acs_url } => (
            "wrong_recipient",
            format!("The assertion's recipient is {assertion_recipient:?}, not this ACS URL {sp_acs_url:?}."),
        ),
        E::DestinationValidationError { response_destination, sp_acs_url } => (
            "wrong_destination",
            format!("The response's destination is {response_destination:?}, not this ACS URL {sp_acs_url:?}."),
        ),
        E::AssertionIssuerMismatch { issuer, entity_id } | E::ResponseIssuerMismatch { issuer, entity_id } => (
            "wrong_issuer",
            format!("The issuer is {issuer:?}, but this connection's IdP is {entity_id:?}."),
        ),
        E::ResponseBadStatusCode { code } => ("idp_error", format!("The IdP answered with status {code}.")),
        E::AssertionBearerSubjectConfirmationMissing | E::AssertionSubjectConfirmationMissing => (
            "malformed",
            "The assertion has no bearer subject confirmation with a recipient and an expiry.".to_string(),
        ),
        E::EncryptedAssertionsNotYetSupported
        | E::MissingPrivateKeySP
        | E::MissingEncryptedKeyInfo
        | E::MissingEncryptedValueInfo
        | E::EncryptedAssertionKeyMethodUnsupported { .. }
        | E::EncryptedAssertionValueMethodUnsupported { .. }
        | E::EncryptedAssertionInvalid
        | E::FailedToDecryptAssertion => (
            "encrypted",
            "The assertion is encrypted; Roster takes signed, unencrypted assertions (switch encryption off in the IdP).".to_string(),
        ),
        other => ("malformed", format!("The response could not be read: {other}.")),
    };
    refusal(reason, message, detail)
}

/// Attribute values by name, from the verified assertion.
fn attributes(a: &Assertion) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for st in a.attribute_statements.iter().flatten() {
        for attr in &st.attributes {
            let Some(name) = attr.name.clone().or_else(|| attr.friendly_name.clone()) else { continue };
            let values = out.entry(name).or_default();
            values.extend(attr.values.iter().filter_map(|v| v.value.clone()));
        }
    }
    out
}

/// The attribute names an email arrives under (Okta, Entra ID, PingOne, LDAP OID, generic).
const EMAIL_ATTRIBUTES: [&str; 6] = [
    "email",
    "mail",
    "emailaddress",
    "user.email",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
];

/// Validates a posted `SAMLResponse` for connection `c`. `browser_secret` is the flow cookie.
/// Returns the identity and the flow it answers (`None`: IdP-initiated), or the refusal.
pub async fn consume(
    store: &Store,
    public_url: &str,
    c: &ConnectionRecord,
    saml_response: &str,
    browser_secret: Option<&str>,
) -> DomainResult<Result<(Identity, Option<FlowRecord>), Refusal>> {
    let compact: String = saml_response.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() > MAX_XML_BYTES * 4 / 3 + 4 {
        return Ok(Err(refusal("malformed", "The response is too large.", None)));
    }
    let Ok(bytes) = STANDARD.decode(compact.as_bytes()) else {
        return Ok(Err(refusal("malformed", "SAMLResponse is not base64.", None)));
    };
    let Ok(xml) = String::from_utf8(bytes) else {
        return Ok(Err(refusal("malformed", "SAMLResponse is not UTF-8 XML.", None)));
    };
    let full_detail = detail_of(&xml);
    let detail = Some(full_detail.clone());
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Ok(Err(refusal("malformed", "The response contains a DOCTYPE (refused: XML entity attacks).", detail)));
    }
    let cfg = config(c)?;
    let sp = service_provider(public_url, c, &cfg)?;
    let assertion = match sp.parse_xml_response(&xml, None) {
        Ok(a) => a,
        Err(e) => return Ok(Err(samael_refusal(&e, detail))),
    };
    let subject = assertion.subject.as_ref().and_then(|s| s.name_id.as_ref()).map(|n| n.value.trim().to_string());
    let attrs = attributes(&assertion);
    let email = EMAIL_ATTRIBUTES
        .iter()
        .find_map(|name| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first().cloned()))
        .or_else(|| subject.clone().filter(|s| s.contains('@')));
    let with_who = |mut r: Refusal| {
        r.subject.clone_from(&subject);
        r.email.clone_from(&email);
        r
    };

    // An audience restriction must be there (samael checks it only when present).
    let has_audience =
        assertion.conditions.as_ref().and_then(|c| c.audience_restrictions.as_ref()).is_some_and(|r| !r.is_empty());
    if !has_audience {
        return Ok(Err(with_who(refusal("wrong_audience", "The assertion has no audience restriction.", detail))));
    }

    // InResponseTo of the bearer confirmation addressed to us (the signed one).
    let acs = sp_values(public_url, SsoProtocol::Saml, &c.id).acs_url;
    let in_response_to = assertion
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_ref())
        .into_iter()
        .flatten()
        .filter(|sc| sc.method.as_deref() == Some(BEARER))
        .filter_map(|sc| sc.subject_confirmation_data.as_ref())
        .find(|d| d.recipient.as_deref() == Some(acs.as_str()))
        .and_then(|d| d.in_response_to.clone());
    let now = now_ms();
    let flow = match in_response_to {
        Some(id) => {
            let hash = browser_secret.map(crate::service::credentials::hash_secret).unwrap_or_default();
            match store.take_sso_flow(&c.id, &id, &hash, now).await? {
                Some(flow) => Some(flow),
                None => {
                    return Ok(Err(with_who(refusal(
                        "unknown_request",
                        "InResponseTo does not name a sign-in this browser started here (unknown, expired, already used, or started in another browser).",
                        detail,
                    ))))
                }
            }
        }
        None if c.allow_idp_initiated => None,
        None => {
            return Ok(Err(with_who(refusal(
                "idp_initiated_not_allowed",
                "The IdP sent a sign-in nobody asked for (IdP-initiated), and this connection does not allow that.",
                detail,
            ))))
        }
    };

    // Each assertion once, remembered as long as it could be valid.
    let valid_until = assertion
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|sc| sc.subject_confirmation_data.as_ref()?.not_on_or_after)
        .chain(assertion.conditions.as_ref().and_then(|c| c.not_on_or_after))
        .max()
        .unwrap_or_else(Utc::now)
        .timestamp_millis()
        .max(assertion.issue_instant.timestamp_millis() + MAX_ISSUE_DELAY_SECS * 1000)
        + SKEW_SECS * 1000;
    if !store.first_use_of_assertion(&c.id, &assertion.id, valid_until).await? {
        return Ok(Err(with_who(refusal(
            "replayed",
            format!("Assertion {} was already used; each is accepted once.", assertion.id),
            detail,
        ))));
    }

    let Some(subject) = subject.filter(|s| !s.is_empty()) else {
        return Ok(Err(refusal("malformed", "The assertion has no NameID.", detail)));
    };
    Ok(Ok((Identity { subject, email, attributes: attrs, detail: full_detail }, flow)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_without_a_certificate_or_redirect_binding_is_refused() {
        let no_cert = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;
        let e = IdpSettings::from_metadata(no_cert).unwrap_err().to_string();
        assert!(e.contains("No signing certificate"), "{e}");
        assert!(IdpSettings::from_metadata("<html/>").is_err());
        assert!(IdpSettings::from_metadata("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>").is_err());
        assert!(IdpSettings::typed("https://idp", "https://idp/sso", "bm90IGEgY2VydA==").is_err());
    }

    #[test]
    fn sp_metadata_escapes_and_names_the_acs() {
        let xml = sp_metadata("https://roster.example", "abc");
        assert!(xml.contains(r#"entityID="https://roster.example/sso/saml/abc/metadata""#));
        assert!(xml.contains(r#"Location="https://roster.example/sso/saml/abc/acs""#));
        assert_eq!(escape_attr(r#"a"<&"#), "a&quot;&lt;&amp;");
    }

    #[test]
    fn details_shorten_signatures() {
        let d = detail_of(
            "<ds:SignatureValue>AAAA</ds:SignatureValue><x>keep</x><ds:X509Certificate>BBB</ds:X509Certificate>",
        );
        assert_eq!(d, "<ds:SignatureValue>…</ds:SignatureValue><x>keep</x><ds:X509Certificate>…</ds:X509Certificate>");
    }
}

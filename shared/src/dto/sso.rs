//! Single sign-on: an organization's connections, its sign-in log, and what a signed-in
//! person may see of their own access.

use serde::{Deserialize, Serialize};

use super::GroupRole;

/// The protocol of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    /// SAML 2.0 (Web Browser SSO profile, HTTP-Redirect request, HTTP-POST response).
    Saml,
    /// OpenID Connect (authorization code flow with PKCE).
    Oidc,
}

impl SsoProtocol {
    /// The stored name (also the URL segment: `/sso/saml/…`, `/sso/oidc/…`).
    pub fn as_str(self) -> &'static str {
        match self {
            SsoProtocol::Saml => "saml",
            SsoProtocol::Oidc => "oidc",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "saml" => Some(SsoProtocol::Saml),
            "oidc" => Some(SsoProtocol::Oidc),
            _ => None,
        }
    }
    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            SsoProtocol::Saml => "SAML 2.0",
            SsoProtocol::Oidc => "OpenID Connect",
        }
    }
}

/// An IdP signing certificate, as the SSO page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    /// The subject (e.g. `CN=okta`).
    pub subject: String,
    /// When it stops being valid, epoch ms.
    pub not_after_ms: i64,
    /// SHA-256 fingerprint, colon-separated hex.
    pub sha256: String,
}

/// What an admin pastes into the IdP: Roster's side of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpValues {
    /// SAML: the SP entity ID (= the metadata URL). OIDC: empty.
    pub entity_id: String,
    /// SAML: the SP metadata URL. OIDC: empty.
    pub metadata_url: String,
    /// SAML: the ACS URL. OIDC: empty.
    pub acs_url: String,
    /// OIDC: the redirect URI. SAML: empty.
    pub redirect_uri: String,
    /// Where a person starts a sign-in through this connection (SP-initiated).
    pub sign_in_url: String,
}

/// A connection as the SSO page shows it (secrets never leave the server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// Its id (in Roster's URLs).
    pub id: String,
    /// The name an admin gave it.
    pub name: String,
    /// SAML or OIDC.
    pub protocol: SsoProtocol,
    /// Whether people can sign in through it.
    pub enabled: bool,
    /// SAML: whether a response the IdP sends unasked (IdP-initiated) is accepted.
    pub allow_idp_initiated: bool,
    /// The IdP's SAML entity ID or OIDC issuer.
    pub idp_id: String,
    /// SAML: the IdP's sign-in URL.
    pub sso_url: Option<String>,
    /// SAML: the IdP's signing certificates (several during a rollover).
    pub certificates: Vec<CertificateView>,
    /// OIDC: the client id.
    pub client_id: Option<String>,
    /// OIDC: the scopes asked for.
    pub scopes: Option<String>,
    /// Roster's values to paste into the IdP.
    pub sp: SpValues,
    /// Just-in-time provisioning at sign-in through this connection.
    #[serde(default)]
    pub jit: JitSettings,
    /// Epoch ms.
    pub created_at_ms: i64,
}

/// When a just-in-time user's attributes are written from the claims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JitUpdate {
    /// At their first sign-in and at every sign-in after it.
    #[default]
    EverySignIn,
    /// At their first sign-in only.
    CreateOnly,
}

impl JitUpdate {
    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            JitUpdate::EverySignIn => "every_sign_in",
            JitUpdate::CreateOnly => "create_only",
        }
    }
    /// Parses the form value.
    pub fn parse(s: &str) -> Option<Self> {
        [JitUpdate::EverySignIn, JitUpdate::CreateOnly].into_iter().find(|v| v.as_str() == s)
    }
}

/// How a sign-in whose identity is not linked yet finds the organization's existing user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKey {
    /// The user whose userName is the email (or the subject), else whose primary email is the
    /// email.
    #[default]
    UserName,
    /// The user whose externalId is the uniqueUserId claim.
    ExternalId,
}

impl LinkKey {
    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKey::UserName => "user_name",
            LinkKey::ExternalId => "external_id",
        }
    }
    /// Parses the form value.
    pub fn parse(s: &str) -> Option<Self> {
        [LinkKey::UserName, LinkKey::ExternalId].into_iter().find(|v| v.as_str() == s)
    }
}

/// The claim names an IdP sends, by vendor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimPreset {
    /// `uniqueUserId` (or `userUniqueId`), `firstName`, `lastName`, `email`.
    #[default]
    Generic,
    /// Okta's `user.id`, `user.firstName`, `user.lastName`, `user.email`.
    Okta,
    /// Microsoft Entra ID's claim URIs.
    Entra,
    /// PingOne's attribute names.
    PingOne,
    /// OpenID Connect standard claims: `sub`, `given_name`, `family_name`, `email`.
    Oidc,
    /// Edited by an admin.
    Custom,
}

/// Microsoft's claim URI prefix for the WS-Federation names Entra ID sends.
pub const ENTRA_CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";

impl ClaimPreset {
    /// Every preset, in the order the form offers them.
    pub const ALL: [ClaimPreset; 6] = [
        ClaimPreset::Generic,
        ClaimPreset::Okta,
        ClaimPreset::Entra,
        ClaimPreset::PingOne,
        ClaimPreset::Oidc,
        ClaimPreset::Custom,
    ];
    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimPreset::Generic => "generic",
            ClaimPreset::Okta => "okta",
            ClaimPreset::Entra => "entra",
            ClaimPreset::PingOne => "pingone",
            ClaimPreset::Oidc => "oidc",
            ClaimPreset::Custom => "custom",
        }
    }
    /// Parses the form value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            ClaimPreset::Generic => "Generic (uniqueUserId, firstName, lastName, email)",
            ClaimPreset::Okta => "Okta (user.id, user.firstName, …)",
            ClaimPreset::Entra => "Microsoft Entra ID (claim URIs)",
            ClaimPreset::PingOne => "PingOne",
            ClaimPreset::Oidc => "OpenID Connect (sub, given_name, family_name, email)",
            ClaimPreset::Custom => "Custom (as edited below)",
        }
    }
    /// The claim names of this preset (`Custom` has none of its own: the generic ones).
    pub fn mapping(self) -> ClaimMapping {
        let v = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        type Names = Vec<String>;
        let (id, first, last, email, groups): (Names, Names, Names, Names, Names) = match self {
            ClaimPreset::Generic | ClaimPreset::Custom => (
                v(&["uniqueUserId", "userUniqueId"]),
                v(&["firstName"]),
                v(&["lastName"]),
                v(&["email"]),
                v(&["groups"]),
            ),
            ClaimPreset::Okta => {
                (v(&["user.id"]), v(&["user.firstName"]), v(&["user.lastName"]), v(&["user.email"]), v(&["groups"]))
            }
            ClaimPreset::Entra => (
                v(&["http://schemas.microsoft.com/identity/claims/objectidentifier"]),
                vec![format!("{ENTRA_CLAIMS}/givenname")],
                vec![format!("{ENTRA_CLAIMS}/surname")],
                vec![format!("{ENTRA_CLAIMS}/emailaddress")],
                v(&["http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"]),
            ),
            ClaimPreset::PingOne => (
                v(&["id", "userId"]),
                v(&["given_name", "name.given"]),
                v(&["family_name", "name.family"]),
                v(&["email"]),
                v(&["memberOf", "groups"]),
            ),
            ClaimPreset::Oidc => (v(&["sub"]), v(&["given_name"]), v(&["family_name"]), v(&["email"]), v(&["groups"])),
        };
        ClaimMapping { unique_user_id: id, first_name: first, last_name: last, email, groups, attributes: Vec::new() }
    }
}

/// Which claims (SAML attributes or OIDC claims) become which user attributes. Each field
/// lists names tried in order; the first the IdP sent is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMapping {
    /// The IdP's stable id of the person (the user's externalId). Required.
    pub unique_user_id: Vec<String>,
    /// Given name.
    pub first_name: Vec<String>,
    /// Family name.
    pub last_name: Vec<String>,
    /// Email (the user's userName and primary email). Required.
    pub email: Vec<String>,
    /// Group names, matched against the IdP groups of the *IdP group* rules by name.
    pub groups: Vec<String>,
    /// Any further claim → a user attribute (`department`, `country`, `title`, …).
    #[serde(default)]
    pub attributes: Vec<ClaimAttribute>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimPreset::Generic.mapping()
    }
}

/// One further claim and the user attribute it fills.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimAttribute {
    /// The claim's name.
    pub claim: String,
    /// The user attribute (see [`JIT_ATTRIBUTES`]).
    pub attribute: String,
}

/// The user attributes a further claim can fill, with where they live in the SCIM User.
pub const JIT_ATTRIBUTES: [(&str, &str); 21] = [
    ("displayName", "displayName"),
    ("nickName", "nickName"),
    ("title", "title"),
    ("userType", "userType"),
    ("preferredLanguage", "preferredLanguage"),
    ("locale", "locale"),
    ("timezone", "timezone"),
    ("profileUrl", "profileUrl"),
    ("phoneNumber", "phoneNumbers[type eq \"work\"].value"),
    ("office", "addresses[type eq \"work\"].formatted"),
    ("streetAddress", "addresses[type eq \"work\"].streetAddress"),
    ("locality", "addresses[type eq \"work\"].locality"),
    ("region", "addresses[type eq \"work\"].region"),
    ("postalCode", "addresses[type eq \"work\"].postalCode"),
    ("country", "addresses[type eq \"work\"].country"),
    ("department", "enterprise department"),
    ("employeeNumber", "enterprise employeeNumber"),
    ("costCenter", "enterprise costCenter"),
    ("organization", "enterprise organization"),
    ("division", "enterprise division"),
    ("manager", "enterprise manager.value"),
];

/// A connection's just-in-time provisioning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitSettings {
    /// Whether a sign-in with no user creates one (off by default).
    pub enabled: bool,
    /// When a just-in-time user's attributes are written.
    #[serde(default)]
    pub update: JitUpdate,
    /// How a sign-in finds an existing user to link to.
    #[serde(default)]
    pub link_key: LinkKey,
    /// The preset the claim names came from.
    #[serde(default)]
    pub preset: ClaimPreset,
    /// The claim names.
    #[serde(default)]
    pub claims: ClaimMapping,
}

/// A new SAML connection, from the IdP's metadata XML or typed values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlConnectionInput {
    /// Its name.
    pub name: String,
    /// The IdP's metadata XML; when given, the three fields below are read from it.
    pub metadata_xml: String,
    /// Where the server fetches the IdP's metadata, when no XML is pasted (https only).
    pub metadata_url: String,
    /// The IdP's entity ID.
    pub entity_id: String,
    /// The IdP's SSO URL (HTTP-Redirect binding).
    pub sso_url: String,
    /// The IdP's signing certificates, PEM (one or more) or base64 DER.
    pub certificates: String,
}

/// A new OIDC connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcConnectionInput {
    /// Its name.
    pub name: String,
    /// The issuer (its discovery document is at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id the IdP gave Roster.
    pub client_id: String,
    /// The client secret (stored sealed with the server key).
    pub client_secret: String,
    /// Scopes, space-separated; `openid email profile` when empty.
    pub scopes: String,
}

/// How a sign-in attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// The person was signed in (or, for a test sign-in, would have been).
    SignedIn,
    /// Refused; the record says why.
    Refused,
}

impl SignInOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::SignedIn => "signed_in",
            SignInOutcome::Refused => "refused",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signed_in" => Some(SignInOutcome::SignedIn),
            "refused" => Some(SignInOutcome::Refused),
            _ => None,
        }
    }
}

/// One attempt of the sign-in log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRecord {
    /// Its id.
    pub id: String,
    /// Epoch ms.
    pub at_ms: i64,
    /// The connection (gone if it was deleted since).
    pub connection_id: Option<String>,
    /// The connection's name at the time.
    pub connection_name: String,
    /// Signed in or refused.
    pub outcome: SignInOutcome,
    /// For a refusal, a short code (`bad_signature`, `wrong_audience`, `expired`, `replayed`,
    /// `unknown_user`, …).
    pub reason: Option<String>,
    /// What happened, in words.
    pub message: String,
    /// The IdP's subject (SAML NameID, OIDC `sub`), when one was read.
    pub subject: Option<String>,
    /// The email the IdP sent, when one was read.
    pub email: Option<String>,
    /// The user it signed in as.
    pub user_id: Option<String>,
    /// For a test sign-in, the admin who ran it.
    pub test_by: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The raw assertion or claims, with secrets removed.
    pub detail: Option<String>,
}

/// An email domain of the organization, as the SSO page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainView {
    /// The domain (lower case).
    pub domain: String,
    /// When it was verified, epoch ms; `None` while pending.
    pub verified_at_ms: Option<i64>,
    /// The TXT record's name to create.
    pub txt_name: String,
    /// The TXT record's value.
    pub txt_value: String,
}

/// The SSO page's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSetup {
    /// The organization's connections, oldest first.
    pub connections: Vec<ConnectionView>,
    /// The latest sign-in attempts, newest first.
    pub sign_ins: Vec<SignInRecord>,
    /// Where the organization's people start an SSO sign-in.
    pub tenant_sign_in_url: String,
    /// The organization's email domains.
    #[serde(default)]
    pub domains: Vec<DomainView>,
}

/// What a person signed in through SSO sees of their own access (*My access*).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyAccess {
    /// Their display name (or userName).
    pub name: String,
    /// Their userName.
    pub user_name: String,
    /// Their primary email.
    pub email: Option<String>,
    /// Their organization's name.
    pub organization: String,
    /// The connection they signed in through.
    pub connection: String,
    /// Their effective role: the highest among their user groups, else the organization's
    /// default role; `None`: no access.
    pub role: Option<GroupRole>,
    /// Their user groups and each one's role.
    pub groups: Vec<(String, GroupRole)>,
}

/// An IdP identity linked to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    /// The connection's id.
    pub connection_id: String,
    /// The connection's name (or that it was deleted).
    pub connection_name: String,
    /// The SAML NameID or OIDC `sub`.
    pub subject: String,
    /// When it was linked, epoch ms.
    pub linked_at_ms: i64,
    /// Its latest sign-in, epoch ms.
    pub last_sign_in_ms: i64,
}

/// A user's single sign-on, on their page: linked identities, the connections an admin can
/// link another through, and sign-ins refused for this user (a manual user's, to link).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSso {
    /// Identities that sign in as this user.
    pub identities: Vec<LinkedIdentity>,
    /// The organization's connections: (id, name).
    pub connections: Vec<(String, String)>,
    /// The user's latest sign-in attempts, newest first.
    pub sign_ins: Vec<SignInRecord>,
}

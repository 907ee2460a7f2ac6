//! The SCIM error (RFC 7644 section 3.12): an HTTP status, an optional `scimType`, a detail.

use serde::{Deserialize, Serialize};

/// The `scimType` values of RFC 7644 section 3.12 (and `invalidCursor`/`expiredCursor` of
/// RFC 9865).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    /// The filter syntax was invalid, or the attribute and comparison combination is not
    /// supported.
    InvalidFilter,
    /// The filter yields too many results for the server to process.
    TooMany,
    /// One or more of the attribute values are already in use or are reserved.
    Uniqueness,
    /// The attempted modification is not compatible with the target attribute's mutability.
    Mutability,
    /// The request body structure was invalid or did not conform to the schema.
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed.
    InvalidPath,
    /// The `path` did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A required value was missing, or the value was not compatible with the attribute.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because of sensitive information in the URI.
    Sensitive,
    /// The cursor is invalid (RFC 9865).
    InvalidCursor,
    /// The cursor has expired (RFC 9865).
    ExpiredCursor,
}

/// A SCIM protocol failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", scim_type.map(|t| format!("{t:?}")).unwrap_or_default())]
pub struct ScimError {
    /// The HTTP status code.
    pub status: u16,
    /// The `scimType`, for 400 and 409 errors.
    pub scim_type: Option<ScimType>,
    /// A message for the person reading the IdP's log.
    pub detail: String,
}

impl ScimError {
    /// A 400 with a `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError { status: 400, scim_type: Some(scim_type), detail: detail.into() }
    }

    /// `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// `invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    /// `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// `mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    /// `noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError { status: 409, scim_type: Some(ScimType::Uniqueness), detail: detail.into() }
    }

    /// A status without `scimType` (401, 403, 404, 412, 413, 429, 500, 501).
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type: None, detail: detail.into() }
    }

    /// The JSON body (RFC 7644 section 3.12): `status` is a string, as the RFC's examples show
    /// and as Okta and Entra ID expect.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": [crate::scim::messages::ERROR_URN],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), serde_json::to_value(t).unwrap_or_default());
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_the_rfc_shape() {
        let e = ScimError::invalid_filter("at position 3: expected an operator");
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "schemas": [crate::scim::messages::ERROR_URN],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "at position 3: expected an operator"
            })
        );
        let e = ScimError::status(404, "Resource 2819c223 not found");
        assert!(e.to_json().get("scimType").is_none());
    }
}

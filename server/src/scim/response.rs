//! SCIM responses: `application/scim+json` bodies, errors in the RFC's shape, and the notes
//! handlers leave for the activity record.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_shared::scim::ScimError;
use serde_json::Value;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// What a handler tells the activity record about the request.
#[derive(Clone, Debug, Default)]
pub struct ActivityNote {
    /// `User` or `Group`.
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// One line.
    pub summary: String,
}

/// An error response in SCIM's shape.
pub struct ScimErrorResponse(pub ScimError);

impl From<ScimError> for ScimErrorResponse {
    fn from(e: ScimError) -> Self {
        ScimErrorResponse(e)
    }
}

impl IntoResponse for ScimErrorResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = json(status, &e.to_json());
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"SCIM\""));
        }
        // Busy and unavailable answers say when to come back (a caller that knows better, such
        // as the rate limiter, sets its own).
        if matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(roster_shared::error::RETRY_AFTER_SECS));
        }
        res.extensions_mut().insert(e);
        res
    }
}

/// A JSON body with the SCIM media type.
pub fn json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

/// A resource with its ETag (and Location, for 201).
pub fn resource(status: StatusCode, body: &Value, etag: &str, location: Option<&str>) -> Response {
    let mut res = json(status, body);
    if let Ok(v) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

/// Attaches the activity note.
pub fn noted(mut res: Response, note: ActivityNote) -> Response {
    res.extensions_mut().insert(note);
    res
}

/// Unknown SCIM endpoints.
pub async fn not_found() -> ScimErrorResponse {
    ScimErrorResponse(ScimError::status(404, "no such SCIM endpoint"))
}

/// A method the endpoint does not take (`GET /Bulk`, `DELETE /Users`, …).
pub async fn method_not_allowed() -> ScimErrorResponse {
    ScimErrorResponse(ScimError::status(405, "this SCIM endpoint does not take this HTTP method"))
}
